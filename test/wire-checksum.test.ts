import { describe, expect, it } from 'vitest';
import {
  checksumAdd, checksumFold, copyWithChecksum, finishPartialChecksum, partialChecksumSeed, pseudoHeaderSum,
} from '../src/wire/index.js';
import { randomBytes, referenceChecksum, seededRandom } from './wire-support.js';

describe('checksumAdd / checksumFold', () => {
  it('matches the RFC 1071 reference at every alignment and length 0–300, on ArrayBuffer and SharedArrayBuffer', () => {
    const random = seededRandom(1071);
    for (const shared of [false, true]) {
      const backing = shared ? new SharedArrayBuffer(1024) : new ArrayBuffer(1024);
      // A view that itself starts at an odd byteOffset, so absolute and relative alignment differ.
      const view = new Uint8Array(backing, 3, 1000);
      view.set(randomBytes(random, 1000));
      for (let offset = 0; offset < 8; offset++) {
        for (let len = 0; len <= 300; len++) {
          expect(checksumFold(checksumAdd(view, offset, len, 0)), `shared=${shared} off=${offset} len=${len}`)
            .toBe(referenceChecksum(view, offset, len));
        }
      }
    }
  });

  it('matches the reference on random large buffers and chained regions', () => {
    const random = seededRandom(7);
    for (let round = 0; round < 50; round++) {
      const data = randomBytes(random, 9000);
      const offset = Math.floor(random() * 16);
      const len = Math.floor(random() * (9000 - offset));
      // Split into even-length pieces (only the last may be odd), as a header + payload would be summed.
      const cut = offset + 2 * Math.floor((random() * len) / 2);
      const chained = checksumAdd(data, cut, offset + len - cut, checksumAdd(data, offset, cut - offset, 0));
      expect(checksumFold(chained)).toBe(referenceChecksum(data, offset, len));
    }
  });

  it('folds the cases where a one\'s complement zero has two forms', () => {
    expect(checksumFold(0)).toBe(0xffff);
    // Data ff ff sums to 0xffff (negative zero): checksum 0, and a packet that carries it verifies.
    expect(checksumFold(checksumAdd(new Uint8Array([0xff, 0xff]), 0, 2, 0))).toBe(0);
    expect(checksumFold(checksumAdd(new Uint8Array([0x00, 0x00, 0xff, 0xff]), 0, 4, 0))).toBe(0);
    const allOnes = new Uint8Array(4096).fill(0xff);
    for (let off = 0; off < 4; off++) expect(checksumFold(checksumAdd(allOnes, off, 4000, 0))).toBe(0);
    expect(checksumFold(checksumAdd(new Uint8Array(64), 0, 64, 0))).toBe(0xffff);
  });

  it('works on a buffer larger than one chunk of words (no precision loss above 2^53)', () => {
    const big = new Uint8Array(10 * 1024 * 1024).fill(0xff);
    big[12345] = 0x12;
    expect(checksumFold(checksumAdd(big, 1, big.length - 2, 0))).toBe(referenceChecksum(big, 1, big.length - 2));
  });

  it('verifies the RFC 1071 §3 worked example', () => {
    // 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (RFC 1071 §3).
    const data = new Uint8Array([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(checksumFold(checksumAdd(data, 0, 8, 0))).toBe(~0xddf2 & 0xffff);
  });

  it('rejects a range outside the buffer with a RangeError', () => {
    expect(() => checksumAdd(new Uint8Array(10), 4, 7, 0)).toThrow(RangeError);
    expect(() => copyWithChecksum(new Uint8Array(10), 0, new Uint8Array(5), 0, 6, 0)).toThrow(RangeError);
  });
});

describe('copyWithChecksum', () => {
  it('equals a copy followed by checksumAdd, at every source and destination alignment', () => {
    const random = seededRandom(42);
    const srcBacking = new Uint8Array(new SharedArrayBuffer(4096), 0, 4096);
    srcBacking.set(randomBytes(random, 4096));
    const dst = new Uint8Array(new ArrayBuffer(4096));
    const expected = new Uint8Array(4096);
    for (let srcOff = 0; srcOff < 8; srcOff++) {
      for (let dstOff = 0; dstOff < 8; dstOff++) {
        for (const len of [0, 1, 2, 3, 5, 7, 8, 13, 64, 1459, 1460, 1461]) {
          dst.fill(0xaa);
          expected.fill(0xaa);
          expected.set(srcBacking.subarray(srcOff, srcOff + len), dstOff);
          const seed = 0x1234;
          const fused = copyWithChecksum(srcBacking, srcOff, dst, dstOff, len, seed);
          // Buffer.equals: toEqual on 4 KiB arrays × 768 cases would take seconds.
          expect(Buffer.from(dst.buffer).equals(expected), `copy src ${srcOff} dst ${dstOff} len ${len}`).toBe(true);
          expect(checksumFold(fused), `src ${srcOff} dst ${dstOff} len ${len}`)
            .toBe(checksumFold(checksumAdd(expected, dstOff, len, seed)));
        }
      }
    }
  });

  it('copies more than one chunk of words (4 MiB) from a misaligned and an aligned source', () => {
    const random = seededRandom(99);
    const src = randomBytes(random, 5 * 1024 * 1024 + 16);
    for (const srcOff of [0, 3]) {
      const dst = new Uint8Array(src.length);
      const len = src.length - 8;
      const sum = copyWithChecksum(src, srcOff, dst, 4, len, 0);
      expect(Buffer.from(dst.subarray(4, 4 + len)).equals(src.subarray(srcOff, srcOff + len))).toBe(true);
      expect(checksumFold(sum)).toBe(referenceChecksum(src, srcOff, len));
    }
  });

  it('tells apart views that share a buffer but start at different byte offsets', () => {
    const backing = new SharedArrayBuffer(512);
    const whole = new Uint8Array(backing);
    for (let i = 0; i < whole.length; i++) whole[i] = (i * 37) & 0xff;
    for (const start of [0, 1, 2, 3, 4, 5, 6, 7]) {
      const view = new Uint8Array(backing, start, 256);
      const again = new Uint8Array(backing, start, 256);
      expect(checksumFold(checksumAdd(view, 1, 200, 0))).toBe(referenceChecksum(whole, start + 1, 200));
      expect(checksumFold(checksumAdd(again, 2, 200, 0))).toBe(referenceChecksum(whole, start + 2, 200));
    }
  });

  it('copies between three different buffers without mixing up cached views', () => {
    const a = new Uint8Array(256).map((_, i) => i);
    const b = new Uint8Array(new SharedArrayBuffer(256));
    const c = new Uint8Array(256);
    const sumAB = copyWithChecksum(a, 4, b, 8, 100, 0);
    const sumBC = copyWithChecksum(b, 8, c, 12, 100, 0);
    checksumAdd(a, 0, 64, 0);
    const sumCA = copyWithChecksum(c, 12, a, 128, 100, 0);
    expect(Array.from(a.subarray(128, 228))).toEqual(Array.from({ length: 100 }, (_, i) => i + 4));
    expect(checksumFold(sumAB)).toBe(referenceChecksum(a, 4, 100));
    expect(checksumFold(sumBC)).toBe(checksumFold(sumAB));
    expect(checksumFold(sumCA)).toBe(checksumFold(sumAB));
  });
});

describe('pseudo-header and partial checksums', () => {
  it('pseudoHeaderSum equals summing the 12-byte pseudo-header', () => {
    const src = 0xc6120001, dst = 0xc6130002;
    const bytes = new Uint8Array([0xc6, 0x12, 0x00, 0x01, 0xc6, 0x13, 0x00, 0x02, 0, 6, 0x05, 0xdc]);
    expect(checksumFold(pseudoHeaderSum(src, dst, 6, 1500))).toBe(referenceChecksum(bytes));
  });

  it('finishPartialChecksum over a seeded field gives the full checksum', () => {
    const random = seededRandom(3);
    for (const udp of [false, true]) {
      const segment = randomBytes(random, 333);
      const fieldOffset = udp ? 6 : 16;
      const pseudo = pseudoHeaderSum(0xc6120001, 0xc6120002, udp ? 17 : 6, segment.length);
      segment[fieldOffset] = 0;
      segment[fieldOffset + 1] = 0;
      const full = checksumFold(checksumAdd(segment, 0, segment.length, pseudo));
      const seed = partialChecksumSeed(pseudo);
      segment[fieldOffset] = seed >>> 8;
      segment[fieldOffset + 1] = seed & 0xff;
      const finished = finishPartialChecksum(segment, 0, segment.length, fieldOffset, udp);
      expect(finished).toBe(udp && full === 0 ? 0xffff : full);
      expect((segment[fieldOffset] << 8) | segment[fieldOffset + 1]).toBe(finished);
      expect(checksumFold(checksumAdd(segment, 0, segment.length, pseudo))).toBe(0);
    }
  });
});
