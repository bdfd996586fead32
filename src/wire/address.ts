// Addresses are plain numbers so the hot path never allocates: IPv4 is an unsigned 32-bit number (198.18.0.1 is
// 0xc6120001), a MAC is a 48-bit number, exact in a double (hi 16 bits × 2^32 + lo 32 bits).

const DOTTED_QUAD = /^(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})$/;

/**
 * Parses a strict dotted quad ("198.18.0.1"): four decimal parts 0–255, no leading zeros (they mean octal to some
 * parsers), no spaces, no shorthand forms ("10.1", "0x7f.1"). Returns the address as an unsigned 32-bit number,
 * or -1 if the text is not one.
 */
export function parseIpv4Address(text: string): number {
  const m = DOTTED_QUAD.exec(text);
  if (m === null) return -1;
  let addr = 0;
  for (let k = 1; k <= 4; k++) {
    const part = Number(m[k]);
    if (part > 255) return -1;
    addr = addr * 256 + part;
  }
  return addr;
}

/** Formats an unsigned 32-bit IPv4 address as a dotted quad. */
export function formatIpv4Address(addr: number): string {
  return `${(addr >>> 24) & 0xff}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** The netmask of a prefix length 0–32 as an unsigned 32-bit number (24 → 0xffffff00). */
export function prefixMask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

export interface Cidr {
  /** The address as written (an interface address keeps its host part: "198.18.0.1/24" → 198.18.0.1). */
  address: number;
  prefixLength: number;
  /** `prefixMask(prefixLength)`; `(address & mask) >>> 0` is the network. */
  mask: number;
}

/** Parses "a.b.c.d/n" (n 0–32, no leading zeros). Returns null if the text is not one. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const address = parseIpv4Address(text.slice(0, slash));
  const lengthText = text.slice(slash + 1);
  if (address < 0 || !/^(0|[1-9][0-9]?)$/.test(lengthText)) return null;
  const prefixLength = Number(lengthText);
  if (prefixLength > 32) return null;
  return { address, prefixLength, mask: prefixMask(prefixLength) };
}

const MAC_TEXT = /^([0-9a-f]{2})([:-])([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})\2([0-9a-f]{2})$/i;

/**
 * Parses six two-digit hex bytes separated by ':' (or all by '-'), any case ("02:00:c6:12:00:01").
 * Returns the MAC as a 48-bit number, or -1 if the text is not one.
 */
export function parseMac(text: string): number {
  const m = MAC_TEXT.exec(text);
  if (m === null) return -1;
  let mac = 0;
  for (const k of [1, 3, 4, 5, 6, 7]) mac = mac * 256 + parseInt(m[k], 16);
  return mac;
}

/** Formats a 48-bit MAC as lower-case colon-separated hex ("02:00:c6:12:00:01"). */
export function formatMac(mac: number): string {
  const hi = Math.floor(mac / 0x100000000);
  const lo = mac >>> 0;
  const hex = (v: number): string => (v & 0xff).toString(16).padStart(2, '0');
  return `${hex(hi >>> 8)}:${hex(hi)}:${hex(lo >>> 24)}:${hex(lo >>> 16)}:${hex(lo >>> 8)}:${hex(lo)}`;
}

/** Reads a 6-byte MAC at `off` as a 48-bit number. */
export function readMac(b: Uint8Array, off: number): number {
  return ((b[off] << 8) | b[off + 1]) * 0x100000000 + (((b[off + 2] << 24) | (b[off + 3] << 16) | (b[off + 4] << 8) | b[off + 5]) >>> 0);
}

/** Writes a 48-bit MAC as 6 bytes at `off`. */
export function writeMac(b: Uint8Array, off: number, mac: number): void {
  const hi = Math.floor(mac / 0x100000000);
  const lo = mac >>> 0;
  b[off] = hi >>> 8;
  b[off + 1] = hi;
  b[off + 2] = lo >>> 24;
  b[off + 3] = lo >>> 16;
  b[off + 4] = lo >>> 8;
  b[off + 5] = lo;
}

/** True for a group (multicast or broadcast) MAC: the I/G bit, lowest bit of the first byte. */
export function isMulticastMac(mac: number): boolean {
  return (Math.floor(mac / 0x10000000000) & 1) === 1;
}
