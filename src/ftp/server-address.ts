// Data-connection addresses on the server side: PORT and EPRT arguments in (RFC 959 §4.1.2, RFC 2428 §2), PASV
// and EPSV replies out (RFC 2428 §3), and the RFC 2577 rule for active mode: connect only to the control
// connection's peer, and never to a privileged port ("FTP bounce").

import { isIP } from 'node:net';
import { FtpReplyError } from './server-reply.js';
import { unmapIPv4, type HostPort } from './passive.js';

/** "h1,h2,h3,h4,p1,p2" → host and port; throws FtpReplyError(501) on anything else. */
export function parsePortArgument(arg: string): HostPort {
  const m = /^\s*(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3}),(\d{1,3})\s*$/.exec(arg);
  if (m === null) throw new FtpReplyError(501, 'PORT wants h1,h2,h3,h4,p1,p2');
  const n = m.slice(1, 7).map(Number);
  if (n.some((v) => v > 255)) throw new FtpReplyError(501, 'PORT has a number above 255');
  return checked({ host: n.slice(0, 4).join('.'), port: n[4] * 256 + n[5] });
}

/** "|1|198.18.0.1|4000|" or "|2|::1|4000|": any printable delimiter (RFC 2428 §2); throws FtpReplyError. */
export function parseEprtArgument(arg: string): HostPort {
  const d = arg.charAt(0);
  if (d === '' || d.charCodeAt(0) < 0x21 || d.charCodeAt(0) > 0x7e) throw new FtpReplyError(501, 'EPRT wants |proto|address|port|');
  const parts = arg.split(d);
  if (parts.length !== 5 || parts[0] !== '' || parts[4] !== '') throw new FtpReplyError(501, 'EPRT wants |proto|address|port|');
  const [, family, host, portText] = parts;
  if (family !== '1' && family !== '2') throw new FtpReplyError(522, 'Network protocol not supported, use (1,2)');
  if (isIP(host) !== (family === '1' ? 4 : 6)) throw new FtpReplyError(501, `EPRT address ${JSON.stringify(host)} is not an IPv${family === '1' ? 4 : 6} address`);
  if (!/^\d{1,5}$/.test(portText)) throw new FtpReplyError(501, 'EPRT port is not a number');
  return checked({ host, port: Number(portText) });
}

function checked(target: HostPort): HostPort {
  if (target.port < 1 || target.port > 65535) throw new FtpReplyError(501, `port ${target.port} is out of range`);
  return target;
}

/**
 * Why an active-mode target is refused, or undefined if it is fine: it must be the control connection's peer
 * (RFC 2577 §3: a third host would let the client use us to attack it) and not a privileged port (§3 again).
 */
export function activeTargetRefusal(target: HostPort, controlPeer: string): string | undefined {
  if (unmapIPv4(target.host) !== unmapIPv4(controlPeer)) {
    return `data connections go only to the client's own address ${unmapIPv4(controlPeer)}, not ${target.host}`;
  }
  if (target.port < 1024) return `refusing a data connection to privileged port ${target.port}`;
  return undefined;
}

/** The text of a 227 reply for an IPv4 `host` and `port`. */
export function formatPasvReply(host: string, port: number): string {
  const v4 = unmapIPv4(host);
  if (isIP(v4) !== 4) throw new FtpReplyError(425, 'PASV needs an IPv4 control connection; use EPSV');
  return `Entering Passive Mode (${v4.split('.').join(',')},${port >> 8},${port & 0xff}).`;
}

/** The text of a 229 reply. */
export function formatEpsvReply(port: number): string {
  return `Entering Extended Passive Mode (|||${port}|)`;
}
