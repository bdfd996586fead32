// HalfSipHash-2-4 with a 32-bit output (Aumasson & Bernstein; Linux's `hsiphash`): a keyed PRF on 32-bit words.
// TCP needs a keyed hash the peer cannot predict in three places — RFC 6528 initial sequence numbers, SYN cookies
// and the shard-steering flow hash — and HalfSipHash works on 32-bit lanes, which JavaScript does natively.

/** A 64-bit key as two 32-bit words (the little-endian reading of key bytes 0–3 and 4–7). */
export interface HashKey {
  readonly k0: number;
  readonly k1: number;
}

/** A key from 8 random bytes (or more; only the first 8 are used). */
export function hashKeyFromBytes(bytes: Uint8Array): HashKey {
  if (bytes.length < 8) throw new RangeError(`a HalfSipHash key needs 8 bytes, got ${bytes.length}`);
  const k0 = (bytes[0] | (bytes[1] << 8) | (bytes[2] << 16) | (bytes[3] << 24)) >>> 0;
  const k1 = (bytes[4] | (bytes[5] << 8) | (bytes[6] << 16) | (bytes[7] << 24)) >>> 0;
  return { k0, k1 };
}

/**
 * HalfSipHash-2-4 of `count` message words (`words[0..count)`, each the little-endian reading of 4 message bytes),
 * i.e. of a message of 4·count bytes. Returns an unsigned 32-bit number.
 */
export function halfSipHash(key: HashKey, words: ArrayLike<number>, count: number): number {
  let v0 = key.k0 | 0;
  let v1 = key.k1 | 0;
  let v2 = (0x6c796765 ^ key.k0) | 0;
  let v3 = (0x74656462 ^ key.k1) | 0;
  for (let i = 0; i <= count; i++) {
    // The last block carries the message length in bytes in its top byte (no tail bytes: we hash whole words).
    const m = i < count ? words[i] | 0 : ((count * 4) << 24) | 0;
    v3 ^= m;
    for (let r = 0; r < 2; r++) {
      v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
      v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
      v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
      v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
    }
    v0 ^= m;
  }
  v2 ^= 0xff;
  for (let r = 0; r < 4; r++) {
    v0 = (v0 + v1) | 0; v1 = (v1 << 5) | (v1 >>> 27); v1 ^= v0; v0 = (v0 << 16) | (v0 >>> 16);
    v2 = (v2 + v3) | 0; v3 = (v3 << 8) | (v3 >>> 24); v3 ^= v2;
    v0 = (v0 + v3) | 0; v3 = (v3 << 7) | (v3 >>> 25); v3 ^= v0;
    v2 = (v2 + v1) | 0; v1 = (v1 << 13) | (v1 >>> 19); v1 ^= v2; v2 = (v2 << 16) | (v2 >>> 16);
  }
  return (v1 ^ v3) >>> 0;
}

const scratch = new Uint32Array(4);

/** The keyed hash of a connection's 4-tuple plus one extra word (0 when unused); allocation-free. */
export function hashFourTuple(
  key: HashKey,
  addrA: number,
  portA: number,
  addrB: number,
  portB: number,
  extra: number,
): number {
  scratch[0] = addrA;
  scratch[1] = addrB;
  scratch[2] = ((portA & 0xffff) << 16) | (portB & 0xffff);
  scratch[3] = extra;
  return halfSipHash(key, scratch, 4);
}
