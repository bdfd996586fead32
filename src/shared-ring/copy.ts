// Copying bytes into and out of SharedArrayBuffers. V8 copies into or out of shared memory with a relaxed-atomic
// memcpy that goes word by word only when source and destination agree mod 8, and byte by byte otherwise
// (docs/PERFORMANCE.md, "Copies"). Measured on Node 20 (ns per copy, to a SharedArrayBuffer):
//   len    JS byte loop   set, same mod 8   set, differ mod 8   via aligned bounce buffer
//   16       12              75                77                  -
//   1500     2445            136               577                 214
//   9000     14938           454               3099                563
// Hence: tiny copies in a loop (no call overhead), aligned ones with set, misaligned large ones through a private
// non-shared buffer placed at the shared side's alignment, so both memcpys run at full speed. Between two shared
// buffers that differ mod 8 (a TCP segment's payload between a socket's byte ring and a frame ring) the phase shift
// happens between two private buffers, where a plain memmove does it: 64 KiB, shared → shared, same run:
//   set, differ mod 8: 24.2 µs (2.7 GB/s);  three aligned copies through two bounce buffers: 9.5 µs (6.9 GB/s).

/** At or below this many bytes a plain loop beats TypedArray.set's fixed cost. */
const LOOP_COPY_MAX = 32;
/** Below this, a misaligned set is cheaper than two aligned ones. */
const BOUNCE_MIN = 256;
const BOUNCE_BYTES = 64 * 1024;

/**
 * A memmove over the arrays' memory (the native addon's copyBytes), installed by whoever loaded it: V8 copies into
 * or out of shared memory with a relaxed-atomic loop, libc's memmove with vector moves, whatever the alignment.
 * bench/ring.ts (docs/PERFORMANCE.md, "Copies"), ns per copy, misaligned: 1500 B 78–190 (aligned set 194–411),
 * 64 KiB 1.0–1.8 µs (aligned set 3.6–6.0, JS bounce 5.0–10.8); at 64 B the call costs as much as a set.
 */
export type BulkCopy = (dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, len: number) => void;
let bulkCopy: BulkCopy | undefined;
/** At or above this many bytes, a copy that touches shared memory goes to the installed BulkCopy. */
const BULK_COPY_MIN = 1024;

/** Installs (or, with undefined, removes) this thread's BulkCopy. shared-ring itself does no native calls. */
export function installBulkCopy(copy: BulkCopy | undefined): void {
  bulkCopy = copy;
}

let bounce: Uint8Array | undefined;
let bounce2: Uint8Array | undefined;

function isShared(view: Uint8Array): boolean {
  return view.buffer instanceof SharedArrayBuffer;
}

/**
 * Copies `len` bytes from `src[srcOffset..]` to `dst[dstOffset..]` (non-overlapping buffers), choosing the fastest
 * way for the alignment. Allocation-free below LOOP_COPY_MAX bytes and when `src` is exactly the bytes to copy;
 * otherwise it creates temporary subarray views, as TypedArray.set has no ranged form.
 */
export function copyBytes(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, len: number): void {
  if (len <= LOOP_COPY_MAX) {
    for (let i = 0; i < len; i++) dst[dstOffset + i] = src[srcOffset + i];
    return;
  }
  if (len >= BULK_COPY_MIN && bulkCopy !== undefined) {
    bulkCopy(dst, dstOffset, src, srcOffset, len);
    return;
  }
  const dstAddress = dst.byteOffset + dstOffset;
  const srcAddress = src.byteOffset + srcOffset;
  if (len < BOUNCE_MIN || ((dstAddress ^ srcAddress) & 7) === 0) {
    dst.set(srcOffset === 0 && len === src.length ? src : src.subarray(srcOffset, srcOffset + len), dstOffset);
    return;
  }
  // `.buffer` is read only here: on a small on-heap typed array the getter has to materialise the ArrayBuffer.
  const dstShared = isShared(dst);
  const srcShared = isShared(src);
  if (!dstShared && !srcShared) {
    dst.set(src.subarray(srcOffset, srcOffset + len), dstOffset);
    return;
  }
  if (bounce === undefined) bounce = new Uint8Array(BOUNCE_BYTES + 8);
  if (dstShared && srcShared) {
    // Both shared: in at the source's phase, shift between the private buffers, out at the destination's phase.
    if (bounce2 === undefined) bounce2 = new Uint8Array(BOUNCE_BYTES + 8);
    const inPhase = srcAddress & 7;
    const outPhase = dstAddress & 7;
    let done = 0;
    while (done < len) {
      const chunk = Math.min(len - done, BOUNCE_BYTES);
      bounce.set(src.subarray(srcOffset + done, srcOffset + done + chunk), inPhase);
      bounce2.set(bounce.subarray(inPhase, inPhase + chunk), outPhase);
      dst.set(bounce2.subarray(outPhase, outPhase + chunk), dstOffset + done);
      done += chunk;
    }
    return;
  }
  // Misaligned and large, one side shared: go through a non-shared buffer at the shared side's alignment mod 8.
  const sharedAddress = dstShared ? dstAddress : srcAddress;
  const phase = sharedAddress & 7;
  let done = 0;
  while (done < len) {
    const chunk = Math.min(len - done, BOUNCE_BYTES);
    bounce.set(src.subarray(srcOffset + done, srcOffset + done + chunk), phase);
    dst.set(bounce.subarray(phase, phase + chunk), dstOffset + done);
    done += chunk;
  }
}
