import { describe, expect, it } from 'vitest';
import { installNativeCopy, loadNative } from '../src/link/native.js';
import { copyBytes, installBulkCopy } from '../src/shared-ring/index.js';

describe('copyBytes', () => {
  it('copies exactly the range, for every alignment pair, length class and shared/plain combination', () => {
    copyMatrix();
  });

  it.skipIf(loadNative() === null)('does the same through the native addon\'s memmove, and it refuses ranges outside an array', () => {
    expect(installNativeCopy()).toBe(true);
    try {
      copyMatrix();
      const native = loadNative()!;
      const small = new Uint8Array(new SharedArrayBuffer(4096));
      expect(() => native.copyBytes(small, 4000, new Uint8Array(4096), 0, 200)).toThrow(/outside/);
      expect(() => native.copyBytes(small, 0, new Uint8Array(4096), -1, 200)).toThrow(/outside/);
      expect(() => native.copyBytes(small, 0, new Uint16Array(4096) as unknown as Uint8Array, 0, 200)).toThrow(/Uint8Array/);
    } finally {
      installBulkCopy(undefined);
    }
  });

  it('copies from a subarray whose own byteOffset is odd', () => {
    const backing = new Uint8Array(new ArrayBuffer(4000));
    for (let i = 0; i < backing.length; i++) backing[i] = i & 0xff;
    const src = backing.subarray(3);
    const dst = new Uint8Array(new SharedArrayBuffer(4000)).subarray(5);
    copyBytes(dst, 1, src, 2, 3000);
    expect(Buffer.from(dst.buffer, dst.byteOffset + 1, 3000).equals(backing.subarray(5, 3005))).toBe(true);
  });
});

/** Every length class, alignment pair and shared/plain combination: exactly the range is copied. */
function copyMatrix(): void {
  const lengths = [0, 1, 7, 32, 33, 255, 256, 1500, 9000, 70_000]; // 70 000 > the 64 KiB bounce buffer
  for (const [dstShared, srcShared] of [[true, false], [false, true], [true, true], [false, false]]) {
    const src = new Uint8Array(srcShared ? new SharedArrayBuffer(80_000) : new ArrayBuffer(80_000));
    for (let i = 0; i < src.length; i++) src[i] = (i * 7 + (i >> 8)) & 0xff;
    const dst = new Uint8Array(dstShared ? new SharedArrayBuffer(80_000) : new ArrayBuffer(80_000));
    for (const len of lengths) {
      for (let srcAlign = 0; srcAlign < 8; srcAlign++) {
        for (let dstAlign = 0; dstAlign < 8; dstAlign++) {
          dst.fill(0xee);
          copyBytes(dst, 16 + dstAlign, src, 8 + srcAlign, len);
          const copied = Buffer.from(dst.buffer, 16 + dstAlign, len).equals(src.subarray(8 + srcAlign, 8 + srcAlign + len));
          const untouched = dst[15 + dstAlign] === 0xee && dst[16 + dstAlign + len] === 0xee;
          if (!copied || !untouched) {
            expect.fail(`len ${len}, src+${srcAlign}${srcShared ? ' shared' : ''}, dst+${dstAlign}${dstShared ? ' shared' : ''}`);
          }
        }
      }
    }
  }
}
