// Copying bytes into and out of SharedArrayBuffers. V8 copies into or out of shared memory with a relaxed-atomic
// memcpy that goes word by word only when source and destination agree mod 8, and byte by byte otherwise
// (docs/PERFORMANCE.md, "Copies"). Measured on Node 20 (ns per copy, to a SharedArrayBuffer):
//   len    JS byte loop   set, same mod 8   set, differ mod 8   via aligned bounce buffer
//   16       12              75                77                  -
//   1500     2445            136               577                 214
//   9000     14938           454               3099                563
// Hence: tiny copies in a loop (no call overhead), aligned ones with set, misaligned large ones through a private
// non-shared buffer placed at the shared side's alignment, so both memcpys run at full speed.

/** At or below this many bytes a plain loop beats TypedArray.set's fixed cost. */
const LOOP_COPY_MAX = 32;
/** Below this, a misaligned set is cheaper than two aligned ones. */
const BOUNCE_MIN = 256;
const BOUNCE_BYTES = 64 * 1024;

let bounce: Uint8Array | undefined;

function isShared(view: Uint8Array): boolean {
  return view.buffer instanceof SharedArrayBuffer;
}

/**
 * Copies `len` bytes from `src[srcOffset..]` to `dst[dstOffset..]` (non-overlapping buffers), choosing the fastest
 * way for the alignment. Allocation-free below LOOP_COPY_MAX bytes and when `src` is exactly the bytes to copy;
 * otherwise it creates one or two temporary subarray views, as TypedArray.set has no ranged form.
 */
export function copyBytes(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, len: number): void {
  if (len <= LOOP_COPY_MAX) {
    for (let i = 0; i < len; i++) dst[dstOffset + i] = src[srcOffset + i];
    return;
  }
  const dstAddress = dst.byteOffset + dstOffset;
  const srcAddress = src.byteOffset + srcOffset;
  // `.buffer` is read only here: on a small on-heap typed array the getter has to materialise the ArrayBuffer.
  const dstShared = len >= BOUNCE_MIN && ((dstAddress ^ srcAddress) & 7) !== 0 && isShared(dst);
  // The bounce helps only when exactly one side is shared: it turns that side's copy into an aligned one.
  if (len < BOUNCE_MIN || ((dstAddress ^ srcAddress) & 7) === 0 || dstShared === isShared(src)) {
    dst.set(srcOffset === 0 && len === src.length ? src : src.subarray(srcOffset, srcOffset + len), dstOffset);
    return;
  }
  // Misaligned and large: go through a non-shared buffer at the shared side's alignment mod 8.
  if (bounce === undefined) bounce = new Uint8Array(BOUNCE_BYTES + 8);
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
