// The frame ring: an SPSC queue of variable-length frame records over a (Shared)ArrayBuffer, in the layout of
// docs/ARCHITECTURE.md ("Frame ring records"), which the native addon reads and writes too. Each side keeps its
// own index locally and a cached copy of the other side's, re-read only when the cache says full or empty; it
// publishes its index with one Atomics.store per batch. No allocation on reserve/commit/peek/next.
import {
  CONTROL_BLOCK_BYTES,
  RING_KIND_FRAME,
  WORD_HEAD,
  WORD_TAIL,
  createRingBuffer,
  validateRingBuffer,
  type RingCreateOptions,
} from './control-block.js';
import { copyBytes } from './copy.js';
import { RingBase, checkRange } from './ring-base.js';

/** The checksum at csumStart + csumOffset still has to be finished (virtio VIRTIO_NET_HDR_F_NEEDS_CSUM). */
export const FRAME_CSUM_PARTIAL = 1;
/** The checksums were already verified (virtio VIRTIO_NET_HDR_F_DATA_VALID). */
export const FRAME_CSUM_VALID = 2;
/** A TCP/IPv4 super-segment to be cut into gsoSize pieces. */
export const FRAME_GSO_TCPV4 = 4;

/** Frame bytes start here in a record: 2 mod 8, so an IP header after 14 bytes of Ethernet is 8-aligned. */
export const RECORD_HEADER_BYTES = 18;
/** Value of the length field of a wrap marker: the rest of the data region is skipped. */
export const WRAP_MARKER = 0xffffffff;

// Byte offsets of the record header fields (host byte order, little-endian on every platform Node runs us on).
const LEN = 0;
const FLAGS = 4;
const GSO_SIZE = 6;
const CSUM_START = 8;
const CSUM_OFFSET = 10;
const PORT = 12;
const AUX = 14;
const PADDING = 16;

/** Bytes a record of a `len`-byte frame occupies: header plus frame, rounded up to 8. */
export function frameRecordBytes(len: number): number {
  return (RECORD_HEADER_BYTES + len + 7) & ~7;
}

export class FrameRing extends RingBase {
  /**
   * Largest frame that can always be placed once the consumer has drained the ring. A record never straddles
   * the end of the data region, so in the worst case (head and tail in the middle) half of it is usable.
   */
  readonly maxFrameBytes: number;
  private readonly words32: Uint32Array;
  private readonly words16: Uint16Array;

  // Producer side.
  private tail: number;
  private publishedTail: number;
  private cachedHead: number;
  private reservedRecord = -1;
  private reservedMaxLen = 0;

  // Consumer side.
  private head: number;
  private publishedHead: number;
  private cachedTail: number;
  private peekedRecord = -1;
  private peekedLen = 0;

  private constructor(buffer: SharedArrayBuffer | ArrayBuffer, capacity: number) {
    super(buffer, capacity);
    this.maxFrameBytes = capacity / 2 - RECORD_HEADER_BYTES;
    this.words32 = new Uint32Array(buffer);
    this.words16 = new Uint16Array(buffer);
    this.tail = this.publishedTail = this.cachedTail = Atomics.load(this.control, WORD_TAIL) >>> 0;
    this.head = this.publishedHead = this.cachedHead = Atomics.load(this.control, WORD_HEAD) >>> 0;
  }

  /** A new ring of `capacityBytes` (a power of two ≥ 4096) of data, SharedArrayBuffer-backed unless shared: false. */
  static create(capacityBytes: number, options?: RingCreateOptions): FrameRing {
    const buffer = createRingBuffer('FrameRing.create', RING_KIND_FRAME, capacityBytes, options, 8);
    return new FrameRing(buffer, capacityBytes);
  }

  /** This thread's view of a ring created elsewhere; throws if the buffer is not an intact frame ring. */
  static attach(buffer: SharedArrayBuffer | ArrayBuffer): FrameRing {
    return new FrameRing(buffer, validateRingBuffer('FrameRing.attach', buffer, RING_KIND_FRAME, 8));
  }

  // ---- producer ----

  /**
   * Room for a frame of up to `maxLen` bytes: returns the absolute offset in `bytes` where its bytes go, or -1
   * if the ring has no room now. Follow with commit(len ≤ maxLen); a new reserve abandons an uncommitted one.
   */
  reserve(maxLen: number): number {
    if (maxLen >>> 0 !== maxLen || maxLen > this.maxFrameBytes) {
      throw new RangeError(`FrameRing.reserve: ${maxLen} is not a frame length from 0 to ${this.maxFrameBytes}`);
    }
    const need = frameRecordBytes(maxLen);
    const offset = this.tail & this.mask;
    const toEnd = this.capacity - offset;
    // A record that would straddle the end is placed at the start, after a wrap marker filling the rest.
    const consumed = need <= toEnd ? need : toEnd + need;
    if (this.capacity - ((this.tail - this.cachedHead) >>> 0) < consumed) {
      this.cachedHead = Atomics.load(this.control, WORD_HEAD) >>> 0;
      if (this.capacity - ((this.tail - this.cachedHead) >>> 0) < consumed) return -1;
    }
    let record = CONTROL_BLOCK_BYTES + offset;
    if (need > toEnd) {
      this.words32[record >> 2] = WRAP_MARKER;
      this.tail = (this.tail + toEnd) >>> 0;
      record = CONTROL_BLOCK_BYTES;
    }
    this.reservedRecord = record;
    this.reservedMaxLen = maxLen;
    return record + RECORD_HEADER_BYTES;
  }

  /** Completes the reserved record with its length and offload header; visible to the consumer after publish(). */
  commit(len: number, flags = 0, port = 0, gsoSize = 0, csumStart = 0, csumOffset = 0, aux = 0): void {
    const record = this.reservedRecord;
    if (record < 0) throw new Error('FrameRing.commit: nothing reserved');
    if (len >>> 0 !== len || len > this.reservedMaxLen) {
      throw new RangeError(`FrameRing.commit: length ${len} is not within the ${this.reservedMaxLen} bytes reserved`);
    }
    if ((flags | port | gsoSize | csumStart | csumOffset | aux) >>> 16 !== 0) {
      throw new RangeError(
        `FrameRing.commit: header fields must be u16 (flags ${flags}, port ${port}, gsoSize ${gsoSize}, ` +
          `csumStart ${csumStart}, csumOffset ${csumOffset}, aux ${aux})`,
      );
    }
    const words16 = this.words16;
    const half = record >> 1;
    this.words32[record >> 2] = len;
    words16[half + FLAGS / 2] = flags;
    words16[half + GSO_SIZE / 2] = gsoSize;
    words16[half + CSUM_START / 2] = csumStart;
    words16[half + CSUM_OFFSET / 2] = csumOffset;
    words16[half + PORT / 2] = port;
    words16[half + AUX / 2] = aux;
    words16[half + PADDING / 2] = 0;
    this.tail = (this.tail + frameRecordBytes(len)) >>> 0;
    this.reservedRecord = -1;
  }

  /** Copies `src[srcOffset, +len)` in as one record; false (nothing written) if the ring has no room now. */
  push(src: Uint8Array, srcOffset = 0, len: number = src.length - srcOffset, flags = 0, port = 0): boolean {
    checkRange('FrameRing.push', src, srcOffset, len);
    const at = this.reserve(len);
    if (at < 0) return false;
    copyBytes(this.bytes, at, src, srcOffset, len);
    this.commit(len, flags, port);
    return true;
  }

  /** Makes every committed record visible with one store of the tail, then rings the consumer's doorbell. */
  publish(): void {
    if (this.tail === this.publishedTail) return;
    Atomics.store(this.control, WORD_TAIL, this.tail | 0);
    this.publishedTail = this.tail;
    this.ringConsumer();
  }

  /** Free bytes now (fresh head). A frame of len bytes needs frameRecordBytes(len), plus a skip at the end. */
  writableBytes(): number {
    this.cachedHead = Atomics.load(this.control, WORD_HEAD) >>> 0;
    return this.capacity - ((this.tail - this.cachedHead) >>> 0);
  }

  // ---- consumer ----

  /** Absolute offset in `bytes` of the next published frame, or -1 if none. Peeking again returns the same. */
  peek(): number {
    if (this.peekedRecord >= 0) return this.peekedRecord + RECORD_HEADER_BYTES;
    for (;;) {
      if (this.head === this.cachedTail) {
        this.cachedTail = Atomics.load(this.control, WORD_TAIL) >>> 0;
        if (this.head === this.cachedTail) return -1;
      }
      const offset = this.head & this.mask;
      const record = CONTROL_BLOCK_BYTES + offset;
      const len = this.words32[record >> 2];
      const available = (this.cachedTail - this.head) >>> 0;
      const toEnd = this.capacity - offset;
      if (len === WRAP_MARKER) {
        if (toEnd > available) this.corrupt(`a wrap marker skips ${toEnd} bytes but only ${available} are published`);
        this.head = (this.head + toEnd) >>> 0;
        continue;
      }
      if (len > this.maxFrameBytes || frameRecordBytes(len) > available || frameRecordBytes(len) > toEnd) {
        this.corrupt(`record length ${len} does not fit (${available} bytes published, ${toEnd} before the end)`);
      }
      this.peekedRecord = record;
      this.peekedLen = len;
      return record + RECORD_HEADER_BYTES;
    }
  }

  /** Length of the peeked frame. */
  get frameLength(): number {
    this.requirePeeked('frameLength');
    return this.peekedLen;
  }
  get flags(): number {
    return this.words16[(this.requirePeeked('flags') + FLAGS) >> 1];
  }
  get port(): number {
    return this.words16[(this.requirePeeked('port') + PORT) >> 1];
  }
  get gsoSize(): number {
    return this.words16[(this.requirePeeked('gsoSize') + GSO_SIZE) >> 1];
  }
  get csumStart(): number {
    return this.words16[(this.requirePeeked('csumStart') + CSUM_START) >> 1];
  }
  get csumOffset(): number {
    return this.words16[(this.requirePeeked('csumOffset') + CSUM_OFFSET) >> 1];
  }
  get aux(): number {
    return this.words16[(this.requirePeeked('aux') + AUX) >> 1];
  }

  /** Steps past the peeked record. Local: the producer sees the space only after release(). */
  next(): void {
    if (this.peekedRecord < 0) throw new Error('FrameRing.next: no record peeked');
    this.head = (this.head + frameRecordBytes(this.peekedLen)) >>> 0;
    this.peekedRecord = -1;
  }

  /** Gives every consumed record's space back with one store of the head, then rings the producer's doorbell. */
  release(): void {
    if (this.head === this.publishedHead) return;
    Atomics.store(this.control, WORD_HEAD, this.head | 0);
    this.publishedHead = this.head;
    this.ringProducer();
  }

  /** Published bytes not yet consumed (fresh tail), record headers and skips included. */
  readableBytes(): number {
    this.cachedTail = Atomics.load(this.control, WORD_TAIL) >>> 0;
    return (this.cachedTail - this.head) >>> 0;
  }

  // ---- for native code that reads and writes records itself (it never stores head or tail) ----

  /** The producer's local tail (u32), including committed but unpublished records. */
  producerPosition(): number {
    return this.tail;
  }

  /** The consumer's released head (u32), freshly loaded. */
  headForProducer(): number {
    this.cachedHead = Atomics.load(this.control, WORD_HEAD) >>> 0;
    return this.cachedHead;
  }

  /** Adopts a tail native code reached by writing records (and wrap markers); publish() makes it visible. */
  producerAdvance(newTail: number): void {
    const head = this.headForProducer();
    const advance = (newTail - this.tail) >>> 0;
    if (newTail >>> 0 !== newTail || (newTail & 7) !== 0 || advance > this.capacity - ((this.tail - head) >>> 0)) {
      throw new RangeError(
        `FrameRing.producerAdvance: ${newTail} is not an 8-aligned position between tail ${this.tail} and head ${head} + capacity`,
      );
    }
    this.tail = newTail;
    this.reservedRecord = -1;
  }

  /** The consumer's local head (u32): the position of the next record to read. */
  consumerPosition(): number {
    return this.head;
  }

  /** The producer's published tail (u32), freshly loaded. */
  tailForConsumer(): number {
    this.cachedTail = Atomics.load(this.control, WORD_TAIL) >>> 0;
    return this.cachedTail;
  }

  /** Adopts a head native code reached by reading records; release() makes it visible. */
  consumerAdvance(newHead: number): void {
    const tail = this.tailForConsumer();
    if (newHead >>> 0 !== newHead || (newHead & 7) !== 0 || ((newHead - this.head) >>> 0) > ((tail - this.head) >>> 0)) {
      throw new RangeError(
        `FrameRing.consumerAdvance: ${newHead} is not an 8-aligned position between head ${this.head} and tail ${tail}`,
      );
    }
    this.head = newHead;
    this.peekedRecord = -1;
  }

  protected flushPending(): void {
    this.publish();
    this.release();
  }

  private requirePeeked(field: string): number {
    if (this.peekedRecord < 0) throw new Error(`FrameRing.${field}: no record peeked`);
    return this.peekedRecord;
  }

  private corrupt(what: string): never {
    throw new Error(`FrameRing: corrupt record at position ${this.head} (offset ${this.head & this.mask}): ${what}`);
  }
}

/**
 * Calls `visit(frameOffset, length)` for each record between positions `from` and `to` of `ring` (u32 positions
 * as producerPosition()/consumerPosition() return them), skipping wrap markers; returns the number of records.
 * For observers of a batch that the owning side has written but not published, or consumed but not released
 * (a pcap writer): those bytes cannot change under it. Throws if the records do not end exactly at `to`.
 */
export function forEachRecord(
  ring: FrameRing,
  from: number,
  to: number,
  visit: (frameOffset: number, length: number) => void,
): number {
  const bytes = ring.bytes;
  const mask = ring.capacity - 1;
  let position = from >>> 0;
  let count = 0;
  while (position !== to >>> 0) {
    const offset = position & mask;
    const record = CONTROL_BLOCK_BYTES + offset;
    const len = (bytes[record] | (bytes[record + 1] << 8) | (bytes[record + 2] << 16) | (bytes[record + 3] << 24)) >>> 0;
    const left = (to - position) >>> 0;
    const size = len === WRAP_MARKER ? ring.capacity - offset : frameRecordBytes(len);
    if (left > ring.capacity || (len !== WRAP_MARKER && len > ring.maxFrameBytes) || size > left) {
      throw new Error(`forEachRecord: no record sequence from ${from} to ${to} (length ${len} at position ${position})`);
    }
    if (len !== WRAP_MARKER) {
      visit(record + RECORD_HEADER_BYTES, len);
      count++;
    }
    position = (position + size) >>> 0;
  }
  return count;
}
