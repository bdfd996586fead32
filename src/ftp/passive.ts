// Data-connection addresses: PASV (RFC 959 §4.1.2), EPSV and EPRT (RFC 2428), PORT.

import { isIP } from 'node:net';
import { FtpError } from './errors.js';

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

/** "227 Entering Passive Mode (h1,h2,h3,h4,p1,p2)": the six numbers may appear anywhere, with or without (). */
export function parsePasvReply(message: string): HostPort {
  const m = /(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3}),\s*(\d{1,3})/.exec(message);
  if (m === null) throw new FtpError('protocol', `PASV reply has no address: ${JSON.stringify(message)}`);
  const n = m.slice(1, 7).map(Number);
  if (n.some((v) => v > 255)) throw new FtpError('protocol', `PASV reply has a byte above 255: ${m[0]}`);
  const port = n[4] * 256 + n[5];
  if (port === 0) throw new FtpError('protocol', 'PASV reply names port 0');
  return { host: n.slice(0, 4).join('.'), port };
}

/** "229 Entering Extended Passive Mode (|||port|)": the delimiter is any printable character (RFC 2428 §3). */
export function parseEpsvReply(message: string): number {
  const m = /\(([\x21-\x7e])\1\1(\d{1,5})\1\)/.exec(message);
  if (m === null) throw new FtpError('protocol', `EPSV reply has no port: ${JSON.stringify(message)}`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new FtpError('protocol', `EPSV reply names port ${m[2]}`);
  return port;
}

export interface DataHostChoice {
  readonly host: string;
  /** Why the PASV address was not used, if it was not. */
  readonly replaced: 'zero' | 'private' | 'different' | undefined;
}

/**
 * Where to open a passive data connection. The data connection goes only to the control connection's peer
 * (RFC 2577 §3 "bounce"): a PASV address that differs — 0.0.0.0, a private address behind the server's NAT, or a
 * third host — is replaced by the peer, and the reply says why so it can be reported.
 */
export function chooseDataHost(pasvHost: string, controlPeer: string): DataHostChoice {
  const peer = unmapIPv4(controlPeer);
  if (pasvHost === peer) return { host: peer, replaced: undefined };
  if (pasvHost === '0.0.0.0') return { host: controlPeer, replaced: 'zero' };
  if (isPrivateIPv4(pasvHost)) return { host: controlPeer, replaced: 'private' };
  return { host: controlPeer, replaced: 'different' };
}

/** "::ffff:198.18.0.1" → "198.18.0.1"; other addresses unchanged. */
export function unmapIPv4(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export function isPrivateIPv4(host: string): boolean {
  const parts = host.split('.').map(Number);
  if (parts.length !== 4) return false;
  const [a, b] = parts;
  return (
    a === 10 ||
    a === 127 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 169 && b === 254) ||
    (a === 100 && b >= 64 && b <= 127)
  );
}

/** The argument of PORT: "h1,h2,h3,h4,p1,p2" (IPv4 only). */
export function formatPortArgument(host: string, port: number): string {
  const v4 = unmapIPv4(host);
  if (isIP(v4) !== 4) throw new FtpError('usage', `PORT needs an IPv4 address, not ${host}`);
  checkPort(port);
  return `${v4.split('.').join(',')},${port >> 8},${port & 0xff}`;
}

/** The argument of EPRT: "|1|198.18.2.2|4000|" or "|2|::1|4000|" (RFC 2428 §2). */
export function formatEprtArgument(host: string, port: number): string {
  const v4 = unmapIPv4(host);
  const family = isIP(v4);
  if (family === 0) throw new FtpError('usage', `EPRT needs an IP address, not ${host}`);
  checkPort(port);
  return `|${family === 4 ? 1 : 2}|${v4}|${port}|`;
}

function checkPort(port: number): void {
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new FtpError('usage', `invalid port ${port}`);
}
