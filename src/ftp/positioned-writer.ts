// Writes a stream of chunks into a file from a given position, coalescing them: while one positioned writev is
// in flight, newly received chunks queue, and the next writev takes all of them at once. A download then costs
// one thread-pool round trip per batch instead of one per 64 KiB socket read, and the socket keeps being read
// while the disk works. Memory stays bounded: `write` returns a promise (wait for it) once `highWaterMark` bytes
// are queued.

import { FtpError } from './errors.js';

/** What the writer needs of a file: a node:fs/promises FileHandle is one (a fake in tests). */
export interface PositionedFile {
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
}

export interface PositionedWriterOptions {
  /** Queued bytes above which `write` asks the caller to wait (default 8 MiB). */
  readonly highWaterMark?: number | undefined;
}

/** Linux's IOV_MAX: at most this many buffers per writev. */
const MAX_BUFFERS_PER_WRITE = 1024;

export class PositionedWriter {
  private readonly file: PositionedFile;
  private readonly highWaterMark: number;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private written: number;
  /** The drain loop, while it runs. */
  private writing: Promise<void> | undefined;
  /** The writev in flight, while there is one. */
  private batch: Promise<void> | undefined;
  private failure: Error | undefined;

  constructor(file: PositionedFile, position: number, options: PositionedWriterOptions = {}) {
    if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`PositionedWriter: bad position ${position}`);
    this.file = file;
    this.written = position;
    this.highWaterMark = Math.max(1, options.highWaterMark ?? 8 * 1024 * 1024);
  }

  /** The file position right after the last byte that was written (queued bytes are not counted). */
  get writtenPosition(): number {
    return this.written;
  }

  /** Bytes accepted but not yet written. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  /**
   * Queues `chunk` (which must not be modified afterwards) after the bytes queued before it. Returns undefined
   * while the queue is short, else a promise that settles when it has drained below the high-water mark; it
   * rejects if a write failed. A failure is also thrown by every later `write` and by `flush`.
   */
  write(chunk: Buffer): Promise<void> | undefined {
    if (this.failure !== undefined) throw this.failure;
    if (chunk.length === 0) return undefined;
    this.queue.push(chunk);
    this.queuedBytes += chunk.length;
    this.writing ??= this.drain();
    return this.queuedBytes >= this.highWaterMark ? this.belowHighWaterMark() : undefined;
  }

  /** Waits until everything queued is written; rejects with the first write error. */
  async flush(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
    if (this.failure !== undefined) throw this.failure;
  }

  private async belowHighWaterMark(): Promise<void> {
    while (this.batch !== undefined && this.queuedBytes >= this.highWaterMark) await this.batch.catch(() => undefined);
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes batches until the queue is empty; runs at most once at a time (`writing`). */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= MAX_BUFFERS_PER_WRITE ? this.queue : this.queue.slice(0, MAX_BUFFERS_PER_WRITE);
        this.queue = batch === this.queue ? [] : this.queue.slice(MAX_BUFFERS_PER_WRITE);
        this.batch = this.writeAll(batch);
        await this.batch;
      }
    } catch (error) {
      this.failure = new FtpError('usage', `cannot write at byte ${this.written}: ${(error as Error).message}`, { cause: error });
      this.queue = [];
      this.queuedBytes = 0;
    } finally {
      this.batch = undefined;
      this.writing = undefined;
    }
  }

  /** One writev, repeated for whatever a short write left over. */
  private async writeAll(batch: Buffer[]): Promise<void> {
    let buffers = batch;
    for (;;) {
      const { bytesWritten } = await this.file.writev(buffers, this.written);
      this.written += bytesWritten;
      this.queuedBytes -= bytesWritten;
      let skip = bytesWritten;
      while (buffers.length > 0 && skip >= (buffers[0] as Buffer).length) {
        skip -= (buffers[0] as Buffer).length;
        buffers = buffers.slice(1);
      }
      if (buffers.length === 0) return;
      if (bytesWritten === 0) throw new Error('the file accepted no bytes');
      buffers = [(buffers[0] as Buffer).subarray(skip), ...buffers.slice(1)];
    }
  }
}
