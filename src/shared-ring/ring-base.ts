// What frame and byte rings share: the control block words every side may touch (doorbell ids, closed flag),
// and waking the other side after a publish or release.
import { CONTROL_BLOCK_BYTES, WORD_CLOSED, WORD_CONSUMER_DOORBELL, WORD_PRODUCER_DOORBELL } from './control-block.js';
import { doorbellTable } from './doorbell.js';

export abstract class RingBase {
  readonly buffer: SharedArrayBuffer | ArrayBuffer;
  /** A view over the whole buffer: ring offsets are absolute in it (the data region starts at byte 256). */
  readonly bytes: Uint8Array;
  readonly capacity: number;
  protected readonly mask: number;
  protected readonly control: Int32Array;

  protected constructor(buffer: SharedArrayBuffer | ArrayBuffer, capacity: number) {
    this.buffer = buffer;
    this.bytes = new Uint8Array(buffer);
    this.capacity = capacity;
    this.mask = capacity - 1;
    this.control = new Int32Array(buffer, 0, CONTROL_BLOCK_BYTES / 4);
  }

  /** The doorbell (of the installed DoorbellTable) rung when data is published; 0 = none. */
  setConsumerDoorbell(id: number): void {
    Atomics.store(this.control, WORD_CONSUMER_DOORBELL, checkDoorbellId('setConsumerDoorbell', id));
  }

  /** The doorbell rung when space is released; 0 = none. */
  setProducerDoorbell(id: number): void {
    Atomics.store(this.control, WORD_PRODUCER_DOORBELL, checkDoorbellId('setProducerDoorbell', id));
  }

  get consumerDoorbell(): number {
    return Atomics.load(this.control, WORD_CONSUMER_DOORBELL);
  }

  get producerDoorbell(): number {
    return Atomics.load(this.control, WORD_PRODUCER_DOORBELL);
  }

  /**
   * Set by either side: no more data will be published. A consumer that finds the ring empty and then sees
   * `closed` must look once more, since the producer's last publish happened before its close.
   */
  get closed(): boolean {
    return Atomics.load(this.control, WORD_CLOSED) !== 0;
  }

  /** Publishes and releases whatever this object has pending, marks the ring closed, and wakes both sides. */
  close(): void {
    this.flushPending();
    Atomics.store(this.control, WORD_CLOSED, 1);
    this.ringConsumer();
    this.ringProducer();
  }

  protected abstract flushPending(): void;

  protected ringConsumer(): void {
    const id = Atomics.load(this.control, WORD_CONSUMER_DOORBELL);
    if (id !== 0) doorbellTable().ring(id);
  }

  protected ringProducer(): void {
    const id = Atomics.load(this.control, WORD_PRODUCER_DOORBELL);
    if (id !== 0) doorbellTable().ring(id);
  }
}

function checkDoorbellId(operation: string, id: number): number {
  if (!Number.isInteger(id) || id < 0 || id > 0x7fffffff) {
    throw new RangeError(`${operation}: doorbell id must be a non-negative integer, got ${id}`);
  }
  return id;
}

/** Throws a RangeError unless `array[offset .. offset + len)` is a valid range. */
export function checkRange(operation: string, array: Uint8Array, offset: number, len: number): void {
  if (offset >>> 0 !== offset || len >>> 0 !== len || offset + len > array.length) {
    throw new RangeError(`${operation}: range [${offset}, +${len}) does not fit an array of ${array.length} bytes`);
  }
}
