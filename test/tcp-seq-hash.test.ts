import { describe, expect, it } from 'vitest';
import { seqAdd, seqDiff, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax, seqMin } from '../src/workers/tcp/seq.js';
import { halfSipHash, hashKeyFromBytes } from '../src/workers/tcp/hsiphash.js';
import { initialSequenceNumber, isnClock } from '../src/workers/tcp/isn.js';
import { flowHash, pickLocalPort, shardOfFlow } from '../src/workers/tcp/flow-hash.js';

describe('sequence arithmetic (RFC 9293 §3.4)', () => {
  it('compares across the 2^32 wrap', () => {
    const near = 0xffff_fff0;
    const after = seqAdd(near, 0x20);
    expect(after).toBe(0x10);
    expect(seqLt(near, after)).toBe(true);
    expect(seqGt(after, near)).toBe(true);
    expect(seqDiff(after, near)).toBe(0x20);
    expect(seqDiff(near, after)).toBe(-0x20);
    expect(seqLe(near, near) && seqGe(near, near)).toBe(true);
    expect(seqMax(near, after)).toBe(after);
    expect(seqMin(near, after)).toBe(near);
    expect(seqInRange(0x5, near, after)).toBe(true);
    expect(seqInRange(after, near, after)).toBe(false);
    expect(seqInRange(near, near, after)).toBe(true);
  });
});

describe('HalfSipHash-2-4', () => {
  // Key 00..07, message bytes 0..n-1: the reference implementation's vectors_hsip32 for n = 0, 4, 8, 12, 16.
  const key = hashKeyFromBytes(Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]));
  const expected = [0x5b9f35a9, 0x89466e2a, 0x8f84b8d0, 0x2f87f057, 0x84acb5d9];
  it('matches the reference vectors', () => {
    const words = new Uint32Array(4);
    for (let i = 0; i < 4; i++) words[i] = (4 * i) | ((4 * i + 1) << 8) | ((4 * i + 2) << 16) | ((4 * i + 3) << 24);
    for (let n = 0; n <= 4; n++) expect(halfSipHash(key, words, n)).toBe(expected[n]);
  });
  it('refuses short keys', () => {
    expect(() => hashKeyFromBytes(new Uint8Array(4))).toThrow(/8 bytes/);
  });
});

describe('RFC 6528 initial sequence numbers', () => {
  const key = hashKeyFromBytes(Uint8Array.from([9, 8, 7, 6, 5, 4, 3, 2]));
  it('advance with the 4 µs clock for one 4-tuple and differ across tuples', () => {
    const a = initialSequenceNumber(key, 1000, 0xc6120001, 40000, 0xc6120002, 21);
    const b = initialSequenceNumber(key, 1001, 0xc6120001, 40000, 0xc6120002, 21);
    expect(seqDiff(b, a)).toBe(250);
    const other = initialSequenceNumber(key, 1000, 0xc6120001, 40001, 0xc6120002, 21);
    expect(other).not.toBe(a);
    expect(isnClock(4)).toBe(1000);
  });
});

describe('flow hash and shard-aware port choice', () => {
  const key = hashKeyFromBytes(Uint8Array.from([1, 1, 2, 3, 5, 8, 13, 21]));
  it('picks a free port that hashes to the requested shard', () => {
    const used = new Set<number>();
    for (let shard = 0; shard < 4; shard++) {
      for (let n = 0; n < 20; n++) {
        const port = pickLocalPort(key, 0xc6120001, 0xc6120002, 80, shard, 4, 7 * n, (p) => used.has(p));
        expect(port).toBeGreaterThanOrEqual(32768);
        expect(port).toBeLessThanOrEqual(60999);
        expect(used.has(port)).toBe(false);
        used.add(port);
        expect(shardOfFlow(flowHash(key, 0xc6120001, port, 0xc6120002, 80), 4)).toBe(shard);
      }
    }
  });
  it('returns -1 when every port is taken', () => {
    expect(pickLocalPort(key, 1, 2, 3, 0, 1, 0, () => true, 1000, 1010)).toBe(-1);
  });
});
