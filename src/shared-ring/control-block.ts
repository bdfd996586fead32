// The control block shared by every ring kind (docs/ARCHITECTURE.md, "Control block"): the first 256 bytes of the
// buffer, read as Int32 words. Head and tail sit on separate 64-byte lines so the two sides never share a line.

export const RING_MAGIC = 0x52535231; // "RSR1"
export const RING_KIND_FRAME = 1;
export const RING_KIND_BYTE = 2;

export const WORD_MAGIC = 0;
export const WORD_KIND = 1;
export const WORD_CAPACITY = 2;
export const WORD_TAIL = 16;
export const WORD_HEAD = 32;
export const WORD_CONSUMER_DOORBELL = 48;
export const WORD_PRODUCER_DOORBELL = 49;
export const WORD_CLOSED = 50;

/** Bytes before the data region. */
export const CONTROL_BLOCK_BYTES = 256;
export const MIN_RING_CAPACITY = 4096;
/** Positions are u32 counters: the distance tail - head must stay below 2^31 to be unambiguous. */
export const MAX_RING_CAPACITY = 1 << 30;

export interface RingCreateOptions {
  /** SharedArrayBuffer (default) or a plain ArrayBuffer for a ring that never leaves its thread. */
  shared?: boolean;
  /**
   * Head and tail start here instead of 0 (a u32; multiple of 8 for frame rings). Lets a test run the counters
   * across 2^32 without pushing 4 GiB first.
   */
  initialPosition?: number;
}

const KIND_NAMES: Record<number, string> = { [RING_KIND_FRAME]: 'frame ring', [RING_KIND_BYTE]: 'byte ring' };

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Allocates and initialises a ring buffer; throws a RangeError naming the bad argument. */
export function createRingBuffer(
  who: string,
  kind: number,
  capacityBytes: number,
  options: RingCreateOptions | undefined,
  positionAlignment: number,
): SharedArrayBuffer | ArrayBuffer {
  if (!isPowerOfTwo(capacityBytes) || capacityBytes < MIN_RING_CAPACITY || capacityBytes > MAX_RING_CAPACITY) {
    throw new RangeError(
      `${who}: capacity must be a power of two between ${MIN_RING_CAPACITY} and ${MAX_RING_CAPACITY} bytes, got ${capacityBytes}`,
    );
  }
  const start = options?.initialPosition ?? 0;
  if (!Number.isInteger(start) || start < 0 || start > 0xffffffff || start % positionAlignment !== 0) {
    throw new RangeError(`${who}: initialPosition must be a u32 multiple of ${positionAlignment}, got ${start}`);
  }
  const total = CONTROL_BLOCK_BYTES + capacityBytes;
  const buffer = options?.shared === false ? new ArrayBuffer(total) : new SharedArrayBuffer(total);
  const words = new Int32Array(buffer, 0, CONTROL_BLOCK_BYTES / 4);
  words[WORD_KIND] = kind;
  words[WORD_CAPACITY] = capacityBytes;
  words[WORD_TAIL] = start | 0;
  words[WORD_HEAD] = start | 0;
  // The magic goes last: a buffer with the magic is fully initialised.
  Atomics.store(words, WORD_MAGIC, RING_MAGIC);
  return buffer;
}

/** Checks a buffer handed to `attach` and returns its capacity; throws an Error that says what is wrong. */
export function validateRingBuffer(
  who: string,
  buffer: SharedArrayBuffer | ArrayBuffer,
  kind: number,
  positionAlignment: number,
): number {
  if (!(buffer instanceof SharedArrayBuffer) && !(buffer instanceof ArrayBuffer)) {
    throw new TypeError(`${who}: expected a SharedArrayBuffer or ArrayBuffer, got ${describe(buffer)}`);
  }
  if (buffer.byteLength < CONTROL_BLOCK_BYTES + MIN_RING_CAPACITY) {
    throw new RangeError(`${who}: buffer of ${buffer.byteLength} bytes is too small to hold a ring`);
  }
  const words = new Int32Array(buffer, 0, CONTROL_BLOCK_BYTES / 4);
  const magic = Atomics.load(words, WORD_MAGIC);
  if (magic !== RING_MAGIC) {
    throw new Error(`${who}: not a ring buffer (magic 0x${(magic >>> 0).toString(16)}, expected 0x${RING_MAGIC.toString(16)})`);
  }
  const actualKind = words[WORD_KIND];
  if (actualKind !== kind) {
    throw new Error(`${who}: buffer holds a ${KIND_NAMES[actualKind] ?? `ring of unknown kind ${actualKind}`}, not a ${KIND_NAMES[kind]}`);
  }
  const capacity = words[WORD_CAPACITY];
  if (!isPowerOfTwo(capacity) || capacity < MIN_RING_CAPACITY || capacity > MAX_RING_CAPACITY) {
    throw new Error(`${who}: corrupt control block: capacity ${capacity} is not a power of two in range`);
  }
  if (buffer.byteLength !== CONTROL_BLOCK_BYTES + capacity) {
    throw new Error(`${who}: buffer is ${buffer.byteLength} bytes but capacity ${capacity} needs ${CONTROL_BLOCK_BYTES + capacity}`);
  }
  const head = Atomics.load(words, WORD_HEAD) >>> 0;
  const tail = Atomics.load(words, WORD_TAIL) >>> 0;
  if (((tail - head) >>> 0) > capacity) {
    throw new Error(`${who}: corrupt control block: tail ${tail} is ${(tail - head) >>> 0} bytes past head ${head}, more than capacity ${capacity}`);
  }
  if (head % positionAlignment !== 0 || tail % positionAlignment !== 0) {
    throw new Error(`${who}: corrupt control block: head ${head} / tail ${tail} not multiples of ${positionAlignment}`);
  }
  return capacity;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'object') return (value as object).constructor?.name ?? 'object';
  return typeof value;
}
