// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of 16-bit big-endian
// words.
//
// Speed: a DataView 16-bit loop costs ~1 µs per 1460 B here; reading aligned 32-bit words through a Uint32Array,
// summing them as doubles and folding once at the end is ~3× faster (bench/checksum.ts). Three facts make it exact:
// - mod 0xffff, 2^16 ≡ 1, so a 32-bit word adds the same as its two 16-bit halves, and the carries of a double sum
//   fold back in at the end (end-around carry);
// - the sum is byte-order independent (RFC 1071 §2(B)): summing little-endian words gives the byte-swapped sum, and
//   swapping the two bytes of a folded 16-bit value is the same as multiplying it by 256 mod 0xffff;
// - a byte at even distance from the region start weighs 256, at odd distance 1, so leading bytes before the first
//   aligned word and trailing odd bytes are added with their own weight and the word sum is swapped, or not, by the
//   parity of where the words begin.
// Partial sums are plain non-negative doubles that callers add together and fold once with `checksumFold`. Every
// region passed to `checksumAdd` is summed as if it started at an even offset of the checksummed data (true for the
// pseudo-header, IP/TCP/UDP headers and a payload that follows them; only the very last region may have odd length).

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Words are summed in chunks of this many so that a double never exceeds 2^53 (2^20 words × 2^32 < 2^53). */
const WORDS_PER_CHUNK = 1 << 20;

// A two-entry cache of Uint32Array views over whole buffers, so the hot path allocates nothing: rings are a few
// long-lived buffers, and a copy reads one and writes another.
let bufferA: ArrayBufferLike | null = null;
let wordsA: Uint32Array<ArrayBufferLike> = new Uint32Array(0);
let bufferB: ArrayBufferLike | null = null;
let wordsB: Uint32Array<ArrayBufferLike> = new Uint32Array(0);

function wordsOf(b: Uint8Array): Uint32Array<ArrayBufferLike> {
  const buffer = b.buffer;
  // A buffer that grew (resizable/growable) since it was cached needs a fresh view: compare lengths too.
  if (buffer === bufferA && wordsA.length === buffer.byteLength >>> 2) return wordsA;
  if (buffer === bufferB && wordsB.length === buffer.byteLength >>> 2) {
    // Move to the front so the other slot is the one replaced next.
    const w = wordsB;
    bufferB = bufferA;
    wordsB = wordsA;
    bufferA = buffer;
    wordsA = w;
    return w;
  }
  bufferB = bufferA;
  wordsB = wordsA;
  bufferA = buffer;
  wordsA = new Uint32Array(buffer, 0, buffer.byteLength >>> 2);
  return wordsA;
}

/** End-around-carry fold of a non-negative double to 16 bits. Stays non-zero for a non-zero input. */
function fold16(sum: number): number {
  while (sum > 0xffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  return sum;
}

function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

function checkRange(b: Uint8Array, offset: number, len: number, what: string): void {
  if (!(offset >= 0 && len >= 0 && offset + len <= b.length)) {
    throw new RangeError(`${what}: range ${offset}+${len} is outside a ${b.length}-byte buffer`);
  }
}

/** Folded sum of little-endian 32-bit words, already corrected to big-endian weight for a word run starting at
 *  `relativeStart` bytes from the region start. */
function orientWordSum(wordSum: number, relativeStart: number): number {
  const folded = fold16(wordSum);
  // LE platform: a word at even relative position carries the byte-swapped sum. BE platform: the opposite.
  return ((relativeStart & 1) === 0) === LITTLE_ENDIAN ? swap16(folded) : folded;
}

/**
 * Adds `len` bytes of `bytes` from `offset` to the partial sum `sum` and returns the new, unfolded partial sum.
 * Any alignment and any length are fine. Throws RangeError only if the range lies outside `bytes` (a caller bug).
 */
export function checksumAdd(bytes: Uint8Array, offset: number, len: number, sum: number): number {
  checkRange(bytes, offset, len, 'checksumAdd');
  const end = offset + len;
  let i = offset;
  let rel = 0;
  let acc = 0;
  // Leading bytes up to a 4-byte aligned address.
  while (((bytes.byteOffset + i) & 3) !== 0 && i < end) {
    acc += (rel & 1) === 0 ? bytes[i] << 8 : bytes[i];
    i++;
    rel++;
  }
  const wordCount = (end - i) >>> 2;
  if (wordCount > 0) {
    const words = wordsOf(bytes);
    let w = (bytes.byteOffset + i) >>> 2;
    const wEnd = w + wordCount;
    let wordSum = 0;
    while (w < wEnd) {
      const chunkEnd = Math.min(wEnd, w + WORDS_PER_CHUNK);
      let s0 = 0;
      let s1 = 0;
      // Two accumulators break the add dependency chain.
      for (; w + 1 < chunkEnd; w += 2) {
        s0 += words[w];
        s1 += words[w + 1];
      }
      if (w < chunkEnd) s0 += words[w++];
      wordSum = fold16(wordSum + s0 + s1);
    }
    acc += orientWordSum(wordSum, rel);
    i += wordCount << 2;
    rel += wordCount << 2;
  }
  while (i < end) {
    acc += (rel & 1) === 0 ? bytes[i] << 8 : bytes[i];
    i++;
    rel++;
  }
  return sum + acc;
}

/** Folds a partial sum and complements it: the 16-bit value to store in a checksum field. A region whose stored
 *  checksum is correct sums (with the field included) to a value for which this returns 0. */
export function checksumFold(sum: number): number {
  return ~fold16(sum) & 0xffff;
}

/**
 * Copies `len` bytes from `src` to `dst` and returns `sum` plus their partial sum, in one pass (read a word, add,
 * store). Same result as `dst.set(...)` followed by `checksumAdd(dst, dstOffset, len, sum)`, at any alignment of
 * either side; fastest when both are equally aligned mod 4. The ranges must not overlap.
 */
export function copyWithChecksum(
  src: Uint8Array,
  srcOffset: number,
  dst: Uint8Array,
  dstOffset: number,
  len: number,
  sum: number,
): number {
  checkRange(src, srcOffset, len, 'copyWithChecksum source');
  checkRange(dst, dstOffset, len, 'copyWithChecksum destination');
  if (!LITTLE_ENDIAN) {
    dst.set(src.subarray(srcOffset, srcOffset + len), dstOffset);
    return checksumAdd(dst, dstOffset, len, sum);
  }
  const end = srcOffset + len;
  let i = srcOffset;
  let j = dstOffset;
  let rel = 0;
  let acc = 0;
  while (((dst.byteOffset + j) & 3) !== 0 && i < end) {
    const v = src[i++];
    dst[j++] = v;
    acc += (rel & 1) === 0 ? v << 8 : v;
    rel++;
  }
  const wordCount = (end - i) >>> 2;
  if (wordCount > 0) {
    const dstWords = wordsOf(dst);
    let dw = (dst.byteOffset + j) >>> 2;
    const dwEnd = dw + wordCount;
    let wordSum = 0;
    if (((src.byteOffset + i) & 3) === 0) {
      const srcWords = wordsOf(src);
      // wordsOf may have evicted dst's view when src lives in a third buffer; dstWords is held locally, so fine.
      let sw = (src.byteOffset + i) >>> 2;
      while (dw < dwEnd) {
        const chunkEnd = Math.min(dwEnd, dw + WORDS_PER_CHUNK);
        let s = 0;
        for (; dw < chunkEnd; dw++, sw++) {
          const v = srcWords[sw];
          dstWords[dw] = v;
          s += v;
        }
        wordSum = fold16(wordSum + s);
      }
    } else {
      // Source misaligned against the destination: assemble each little-endian word from bytes.
      let k = i;
      while (dw < dwEnd) {
        const chunkEnd = Math.min(dwEnd, dw + WORDS_PER_CHUNK);
        let s = 0;
        for (; dw < chunkEnd; dw++, k += 4) {
          const v = (src[k] | (src[k + 1] << 8) | (src[k + 2] << 16) | (src[k + 3] << 24)) >>> 0;
          dstWords[dw] = v;
          s += v;
        }
        wordSum = fold16(wordSum + s);
      }
    }
    acc += orientWordSum(wordSum, rel);
    i += wordCount << 2;
    j += wordCount << 2;
    rel += wordCount << 2;
  }
  while (i < end) {
    const v = src[i++];
    dst[j++] = v;
    acc += (rel & 1) === 0 ? v << 8 : v;
    rel++;
  }
  return sum + acc;
}

/**
 * Partial sum of the IPv4 pseudo-header for TCP and UDP (RFC 9293 §3.1, RFC 768): source and destination address
 * (unsigned 32-bit numbers), protocol, and the transport length (header + payload) in bytes.
 */
export function pseudoHeaderSum(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/**
 * The seed a sender leaves in the checksum field when a later stage or the NIC finishes the checksum
 * (`CSUM_PARTIAL`, virtio_net_hdr `NEEDS_CSUM`): the folded pseudo-header sum, not complemented, as Linux stores it.
 */
export function partialChecksumSeed(pseudoSum: number): number {
  return fold16(pseudoSum);
}

/**
 * Finishes a `CSUM_PARTIAL` checksum: sums `len` bytes from `start` (the transport header, whose checksum field at
 * `fieldOffset` holds the `partialChecksumSeed`) and stores the complemented result in the field. Returns the
 * stored value. For UDP a result of 0 must be sent as 0xffff: pass `udp = true`.
 */
export function finishPartialChecksum(
  b: Uint8Array,
  start: number,
  len: number,
  fieldOffset: number,
  udp: boolean,
): number {
  checkRange(b, fieldOffset, 2, 'finishPartialChecksum field');
  let checksum = checksumFold(checksumAdd(b, start, len, 0));
  if (udp && checksum === 0) checksum = 0xffff;
  b[fieldOffset] = checksum >>> 8;
  b[fieldOffset + 1] = checksum;
  return checksum;
}
