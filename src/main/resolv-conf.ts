// resolv.conf(5), the parts a stub resolver over IPv4 uses: `nameserver` lines and the `timeout:`/`attempts:`
// options. A pure function over the file's text; reading the file is the caller's business.
import { parseIpv4Address } from '../wire/index.js';

/** glibc's MAXNS: later nameserver lines are ignored, as the system's resolver ignores them. */
export const RESOLV_CONF_MAX_NAMESERVERS = 3;

export interface ResolvConf {
  /** IPv4 nameservers in file order, at most RESOLV_CONF_MAX_NAMESERVERS. */
  readonly nameservers: readonly string[];
  /** Nameserver entries we cannot use (IPv6, scoped or malformed addresses, past the limit), with why. */
  readonly ignored: readonly { readonly line: number; readonly text: string; readonly reason: string }[];
  /** `options timeout:N` (seconds, glibc caps it at 30), if given. */
  readonly timeoutSeconds?: number;
  /** `options attempts:N` (glibc caps it at 5), if given. */
  readonly attempts?: number;
}

function boundedOption(value: string, max: number): number | undefined {
  if (!/^\d+$/.test(value)) return undefined;
  return Math.min(Number(value), max);
}

/**
 * Parses resolv.conf text. Comments start with '#' or ';' at the start of a line (glibc also takes them after a
 * nameserver's address); keywords are lower case; the last `options` value wins. Never throws.
 */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: string[] = [];
  const ignored: { line: number; text: string; reason: string }[] = [];
  let timeoutSeconds: number | undefined;
  let attempts: number | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/[#;].*$/, '').trim();
    if (line === '') continue;
    const [keyword, ...args] = line.split(/\s+/);
    if (keyword === 'nameserver') {
      const address = args[0];
      if (address === undefined) ignored.push({ line: i + 1, text: lines[i], reason: 'no address' });
      else if (parseIpv4Address(address) < 0) ignored.push({ line: i + 1, text: address, reason: address.includes(':') ? 'IPv6 (the stack speaks IPv4)' : 'not an IPv4 address' });
      else if (nameservers.length >= RESOLV_CONF_MAX_NAMESERVERS) ignored.push({ line: i + 1, text: address, reason: `more than ${RESOLV_CONF_MAX_NAMESERVERS} nameservers` });
      else nameservers.push(address);
    } else if (keyword === 'options') {
      for (const option of args) {
        const [name, value = ''] = option.split(':', 2);
        if (name === 'timeout') timeoutSeconds = boundedOption(value, 30) ?? timeoutSeconds;
        else if (name === 'attempts') attempts = boundedOption(value, 5) ?? attempts;
      }
    }
  }
  return {
    nameservers,
    ignored,
    ...(timeoutSeconds === undefined ? {} : { timeoutSeconds: Math.max(1, timeoutSeconds) }),
    ...(attempts === undefined ? {} : { attempts: Math.max(1, attempts) }),
  };
}
