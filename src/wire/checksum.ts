// The Internet checksum (RFC 1071): the 16-bit one's complement of the one's complement sum of 16-bit big-endian
// words.
//
// Speed (bench/checksum.ts, docs/PERFORMANCE.md): reading aligned 32-bit words through a Uint32Array, summing them
// as doubles and folding once at the end is ~2.4× faster than a DataView 16-bit loop. Three facts make it exact:
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

// Finding the Uint32Array over a view's buffer without allocating or touching `.buffer`/`.byteOffset` per call:
// on Node 20 each of those getters costs 20–35 ns, as much as summing 100 bytes. Stages pass the same long-lived
// Uint8Array views every time (a protocol stage: its input ring, an app byte ring, its output ring), so the cache
// is keyed by the view object, with a second cache by buffer for callers that pass a fresh subarray each time.
// Four entries each, replaced round-robin. Resizable or growable buffers: a view whose words run past the cached
// array is looked up again. The caches keep up to eight views/buffers alive; that is the price of not allocating.
type Words = Uint32Array<ArrayBufferLike>;
const CACHE_SIZE = 4;
const noWords: Words = new Uint32Array(0);
const cachedViews: (Uint8Array | null)[] = [null, null, null, null];
const cachedViewWords: Words[] = [noWords, noWords, noWords, noWords];
const cachedViewOffsets: number[] = [0, 0, 0, 0];
let nextView = 0;
const cachedBuffers: (ArrayBufferLike | null)[] = [null, null, null, null];
const cachedBufferWords: Words[] = [noWords, noWords, noWords, noWords];
let nextBuffer = 0;
/** byteOffset of the view most recently passed to `wordsOf` (a second return value without allocating). */
let viewByteOffset = 0;

function wordsOfBuffer(buffer: ArrayBufferLike): Words {
  const wordLength = buffer.byteLength >>> 2;
  for (let k = 0; k < CACHE_SIZE; k++) {
    if (cachedBuffers[k] === buffer && cachedBufferWords[k].length === wordLength) return cachedBufferWords[k];
  }
  const words = new Uint32Array(buffer, 0, wordLength);
  cachedBuffers[nextBuffer] = buffer;
  cachedBufferWords[nextBuffer] = words;
  nextBuffer = (nextBuffer + 1) & (CACHE_SIZE - 1);
  return words;
}

/** The Uint32Array over all of `b`'s buffer, covering at least its first `needBytes` bytes; sets viewByteOffset. */
function wordsOf(b: Uint8Array, needBytes: number): Words {
  for (let k = 0; k < CACHE_SIZE; k++) {
    if (cachedViews[k] === b && ((cachedViewOffsets[k] + needBytes) >>> 2) <= cachedViewWords[k].length) {
      viewByteOffset = cachedViewOffsets[k];
      return cachedViewWords[k];
    }
  }
  const words = wordsOfBuffer(b.buffer);
  viewByteOffset = b.byteOffset;
  cachedViews[nextView] = b;
  cachedViewWords[nextView] = words;
  cachedViewOffsets[nextView] = viewByteOffset;
  nextView = (nextView + 1) & (CACHE_SIZE - 1);
  return words;
}

/**
 * Sum of words[w, wEnd) as a double. Unrolled by 8 into 4 accumulators: V8 reloads a typed array's length and data
 * pointer when the array is a variable rather than a constant, and the unrolling amortises that (320 → 210 ns per
 * 1460 B here). At most 2^20 words per call keeps every accumulator below 2^53.
 */
function sumWords(words: Words, w: number, wEnd: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  for (; w + 7 < wEnd; w += 8) {
    s0 += words[w] + words[w + 4];
    s1 += words[w + 1] + words[w + 5];
    s2 += words[w + 2] + words[w + 6];
    s3 += words[w + 3] + words[w + 7];
  }
  for (; w < wEnd; w++) s0 += words[w];
  return s0 + s1 + (s2 + s3);
}

/** Copies n aligned words and returns their sum (unrolled by 8, for the same reason as `sumWords`). */
function copyWords(src: Words, sw: number, dst: Words, dw: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  const swEnd = sw + n;
  const delta = dw - sw;
  for (; sw + 7 < swEnd; sw += 8) {
    const a = src[sw];
    const b = src[sw + 1];
    const c = src[sw + 2];
    const d = src[sw + 3];
    const e = src[sw + 4];
    const f = src[sw + 5];
    const g = src[sw + 6];
    const h = src[sw + 7];
    const o = sw + delta;
    dst[o] = a;
    dst[o + 1] = b;
    dst[o + 2] = c;
    dst[o + 3] = d;
    dst[o + 4] = e;
    dst[o + 5] = f;
    dst[o + 6] = g;
    dst[o + 7] = h;
    s0 += a + e;
    s1 += b + f;
    s2 += c + g;
    s3 += d + h;
  }
  for (; sw < swEnd; sw++) {
    const a = src[sw];
    dst[sw + delta] = a;
    s0 += a;
  }
  return s0 + s1 + (s2 + s3);
}

/**
 * Copies n words from a source that is `shift / 8` bytes past a word boundary to aligned destination words: each
 * destination word is spliced from two aligned source words (little-endian), so every source word is read once.
 * The last word is assembled from bytes (`srcBytes` at `srcByte`), so nothing past the source range is read.
 */
function copyWordsShifted(
  srcBytes: Uint8Array, srcByte: number, src: Words, sw: number, shift: number, dst: Words, dw: number, n: number,
): number {
  const back = 32 - shift;
  let s = 0;
  let current = src[sw];
  for (let k = 0; k < n - 1; k++) {
    const next = src[sw + k + 1];
    const v = ((current >>> shift) | (next << back)) >>> 0;
    dst[dw + k] = v;
    s += v;
    current = next;
  }
  const t = srcByte + 4 * (n - 1);
  const last = (srcBytes[t] | (srcBytes[t + 1] << 8) | (srcBytes[t + 2] << 16) | (srcBytes[t + 3] << 24)) >>> 0;
  dst[dw + n - 1] = last;
  return s + last;
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
  const words = wordsOf(bytes, end);
  const base = viewByteOffset;
  let i = offset;
  let rel = 0;
  let acc = 0;
  // Leading bytes up to a 4-byte aligned address.
  while (((base + i) & 3) !== 0 && i < end) {
    acc += (rel & 1) === 0 ? bytes[i] << 8 : bytes[i];
    i++;
    rel++;
  }
  const wordCount = (end - i) >>> 2;
  if (wordCount > 0) {
    const w = (base + i) >>> 2;
    let wordSum = 0;
    for (let c = w; c < w + wordCount; c += WORDS_PER_CHUNK) {
      wordSum = fold16(wordSum + sumWords(words, c, Math.min(w + wordCount, c + WORDS_PER_CHUNK)));
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

/**
 * Makes the partial sum of a region that begins at an odd offset of the checksummed data addable to the sum of
 * what precedes it: one's-complement sums are byte-order independent, so swapping the folded sum's bytes moves it
 * by one byte (RFC 1071 §2(B)). For data split in two spans, the first of odd length (a ring's wrap point).
 */
export function checksumSwapBytes(sum: number): number {
  return swap16(fold16(sum));
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
  const srcWords = wordsOf(src, end);
  const srcBase = viewByteOffset;
  const dstWords = wordsOf(dst, dstOffset + len);
  const dstBase = viewByteOffset;
  let i = srcOffset;
  let j = dstOffset;
  let rel = 0;
  let acc = 0;
  while (((dstBase + j) & 3) !== 0 && i < end) {
    const v = src[i++];
    dst[j++] = v;
    acc += (rel & 1) === 0 ? v << 8 : v;
    rel++;
  }
  const wordCount = (end - i) >>> 2;
  if (wordCount > 0) {
    const dw = (dstBase + j) >>> 2;
    const srcMisalignment = (srcBase + i) & 3;
    let wordSum = 0;
    for (let c = 0; c < wordCount; c += WORDS_PER_CHUNK) {
      const n = Math.min(wordCount - c, WORDS_PER_CHUNK);
      const chunkSum = srcMisalignment === 0
        ? copyWords(srcWords, ((srcBase + i) >>> 2) + c, dstWords, dw + c, n)
        : copyWordsShifted(src, i + 4 * c, srcWords, ((srcBase + i) >>> 2) + c, srcMisalignment << 3, dstWords, dw + c, n);
      wordSum = fold16(wordSum + chunkSum);
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
