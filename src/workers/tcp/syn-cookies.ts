// SYN cookies (RFC 4987 §3.6): when a listener's SYN queue is full, answer a SYN without keeping state. The
// SYN-ACK's sequence number encodes a coarse time counter, the MSS (as a table index) and a keyed MAC of the
// 4-tuple, the peer's ISN and the counter; the handshake's final ACK (ack − 1) is checked against it. The peer's
// window scale and SACK-permitted travel in the low bits of our timestamp, as Linux does, so cookie connections
// keep those options when timestamps are on.
import { hashFourTuple, type HashKey } from './hsiphash.js';

/** MSS values a cookie can carry (3 bits); the largest not above the peer's is chosen. */
export const COOKIE_MSS_TABLE = [536, 1220, 1300, 1440, 1460, 4312, 8960, 9000] as const;
/** A counter tick lasts 64 s; a cookie is valid during its tick and the next (RFC 4987: limits replay). */
export const COOKIE_TICK_MS = 64_000;

export function cookieMssIndex(mss: number): number {
  let index = 0;
  for (let i = 0; i < COOKIE_MSS_TABLE.length; i++) if (COOKIE_MSS_TABLE[i] <= mss) index = i;
  return index;
}

function cookieMac(key: HashKey, localAddr: number, localPort: number, remoteAddr: number, remotePort: number, peerIsn: number, tick: number): number {
  return hashFourTuple(key, localAddr, localPort, remoteAddr, remotePort, (peerIsn ^ Math.imul(tick + 1, 0x9e3779b1)) >>> 0) & 0xffffff;
}

/** Our ISN for a cookie SYN-ACK: tick (5 bits) | MSS index (3 bits) | MAC (24 bits). */
export function encodeSynCookie(
  key: HashKey, now: number, localAddr: number, localPort: number, remoteAddr: number, remotePort: number,
  peerIsn: number, mssIndex: number,
): number {
  const tick = Math.floor(now / COOKIE_TICK_MS) & 31;
  return ((tick << 27) | ((mssIndex & 7) << 24) | cookieMac(key, localAddr, localPort, remoteAddr, remotePort, peerIsn, tick)) >>> 0;
}

/** The MSS index a valid cookie carries, or -1 if the cookie is forged or expired. */
export function decodeSynCookie(
  key: HashKey, now: number, localAddr: number, localPort: number, remoteAddr: number, remotePort: number,
  peerIsn: number, cookie: number,
): number {
  const tick = cookie >>> 27;
  const age = ((Math.floor(now / COOKIE_TICK_MS) & 31) - tick) & 31;
  if (age > 1) return -1;
  if ((cookie & 0xffffff) !== cookieMac(key, localAddr, localPort, remoteAddr, remotePort, peerIsn, tick)) return -1;
  return (cookie >>> 24) & 7;
}

/** Low 5 bits of the cookie SYN-ACK's TSval: peer window scale + 1 (0 = none) and SACK-permitted. */
export function encodeCookieOptions(peerWindowScale: number, sackPermitted: boolean): number {
  return ((peerWindowScale < 0 ? 0 : Math.min(peerWindowScale, 14) + 1) & 15) | (sackPermitted ? 16 : 0);
}

export function decodeCookieOptions(tsEcr: number): { peerWindowScale: number; sackPermitted: boolean } {
  const ws = tsEcr & 15;
  return { peerWindowScale: ws === 0 ? -1 : ws - 1, sackPermitted: (tsEcr & 16) !== 0 };
}
