// Big-endian field access over a Uint8Array. Small enough for V8 to inline; no DataView to allocate or cache.
// Callers check bounds before they read (each parse does one length check up front, as smoltcp's check_len).

export function readU16(b: Uint8Array, off: number): number {
  return (b[off] << 8) | b[off + 1];
}

/** Unsigned: `>>> 0` keeps values ≥ 2^31 positive (sequence numbers, addresses). */
export function readU32(b: Uint8Array, off: number): number {
  return ((b[off] << 24) | (b[off + 1] << 16) | (b[off + 2] << 8) | b[off + 3]) >>> 0;
}

export function writeU16(b: Uint8Array, off: number, value: number): void {
  b[off] = value >>> 8;
  b[off + 1] = value;
}

export function writeU32(b: Uint8Array, off: number, value: number): void {
  b[off] = value >>> 24;
  b[off + 1] = value >>> 16;
  b[off + 2] = value >>> 8;
  b[off + 3] = value;
}
