// Writes a stream of chunks into a file from a given position through a few staging buffers: each chunk is read
// straight into the current buffer (`space`) or copied into it (so the socket's chunk dies young and the garbage
// collector never has to promote and sweep thousands of queued 64 KiB buffers), and a full buffer is written with
// one positioned writev while the next fills. A download then costs one thread-pool round trip per staging buffer
// instead of one per socket read, and the socket keeps being read while the disk works. Memory stays bounded:
// `write` returns a promise (wait for it) while every staging buffer is full or being written.

import { FtpError } from './errors.js';

/** What the writer needs of a file: a node:fs/promises FileHandle is one (a fake in tests). */
export interface PositionedFile {
  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }>;
}

export interface PositionedWriterOptions {
  /** Bytes per staging buffer (default 1 MiB): the usual size of one write. */
  readonly bufferBytes?: number | undefined;
  /** Staging buffers at most (default 4); `write` asks the caller to wait when all are in use. */
  readonly buffers?: number | undefined;
  /**
   * A synchronous positioned writev returning the bytes written, for a target whose writes never wait for a disk
   * (a character device such as /dev/null): each full staging buffer is then written at once on the caller's
   * thread. A thread-pool round trip per buffer costs more there than the write: on 2 busy cores the pool's thread
   * waits for a CPU while the staging buffers fill (docs/PERFORMANCE.md, "Writing the target").
   */
  readonly writeNow?: ((buffers: Buffer[], position: number) => number) | undefined;
}

/** Linux's IOV_MAX: at most this many buffers per writev. */
const MAX_BUFFERS_PER_WRITE = 1024;

export class PositionedWriter {
  private readonly file: PositionedFile;
  private readonly bufferBytes: number;
  private readonly maxBuffers: number;
  /** Staging buffers not in use. */
  private readonly spare: Buffer[] = [];
  private allocated = 0;
  /** The buffer being filled, and how much of it is. */
  private current: Buffer | undefined;
  private currentFill = 0;
  /** Filled buffers (views of their used part) waiting to be written, in file order. */
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private written: number;
  /** The drain loop, while it runs. */
  private writing: Promise<void> | undefined;
  /** The writev in flight, while there is one. */
  private batch: Promise<void> | undefined;
  private failure: Error | undefined;
  private readonly writeNow: ((buffers: Buffer[], position: number) => number) | undefined;

  constructor(file: PositionedFile, position: number, options: PositionedWriterOptions = {}) {
    if (!Number.isSafeInteger(position) || position < 0) throw new RangeError(`PositionedWriter: bad position ${position}`);
    this.file = file;
    this.written = position;
    this.bufferBytes = Math.max(1, Math.floor(options.bufferBytes ?? 1024 * 1024));
    this.maxBuffers = Math.max(1, Math.floor(options.buffers ?? 4));
    this.writeNow = options.writeNow;
  }

  /** The file position right after the last byte that was written (staged bytes are not counted). */
  get writtenPosition(): number {
    return this.written;
  }

  /** Bytes accepted but not yet written. */
  get pendingBytes(): number {
    return this.queuedBytes + this.currentFill;
  }

  /**
   * Copies `chunk` after the bytes accepted before it (the caller may reuse `chunk` at once). Returns undefined
   * while a staging buffer is free, else a promise that settles when one is; it rejects if a write failed. A
   * failure is also thrown by every later `write` and by `flush`.
   */
  write(chunk: Uint8Array): Promise<void> | undefined {
    if (this.failure !== undefined) throw this.failure;
    const current = this.current;
    let offset = 0;
    if (
      current !== undefined && chunk.buffer === current.buffer && chunk.byteOffset === current.byteOffset + this.currentFill
      && chunk.length <= current.length - this.currentFill
    ) {
      // Read straight into `space()`: the bytes are already where they go.
      this.currentFill += chunk.length;
      offset = chunk.length;
      if (this.currentFill === current.length) this.submitCurrent();
    }
    while (offset < chunk.length) {
      // Always accepted: at most one staging buffer beyond the limit, for the rest of this chunk.
      const target = this.current ?? (this.current = this.takeBuffer());
      const take = Math.min(chunk.length - offset, target.length - this.currentFill);
      target.set(offset === 0 && take === chunk.length ? chunk : chunk.subarray(offset, offset + take), this.currentFill);
      this.currentFill += take;
      offset += take;
      if (this.currentFill === target.length) this.submitCurrent();
    }
    return this.allocated - this.spare.length > this.maxBuffers - 1 && this.queue.length + (this.batch === undefined ? 0 : 1) > 0
      ? this.bufferFree()
      : undefined;
  }

  /**
   * The free part of the staging buffer being filled, right after the bytes accepted so far, for a reader that
   * reads straight into it (node:net's `onread` with a buffer function): `write` of a view at its start then
   * keeps the bytes where they are instead of copying them. Takes a staging buffer when none is being filled, so
   * like `write` it may use one buffer beyond the limit; the caller stops reading while `write` says to wait.
   */
  space(): Uint8Array {
    const target = this.current ?? (this.current = this.takeBuffer());
    return target.subarray(this.currentFill);
  }

  /** Writes what is staged and waits until everything is written; rejects with the first write error. */
  async flush(): Promise<void> {
    if (this.failure === undefined) this.submitCurrent();
    while (this.writing !== undefined) await this.writing;
    if (this.failure !== undefined) throw this.failure;
  }

  private takeBuffer(): Buffer {
    const buffer = this.spare.pop();
    if (buffer !== undefined) return buffer;
    this.allocated++;
    return Buffer.allocUnsafeSlow(this.bufferBytes);
  }

  private submitCurrent(): void {
    if (this.current === undefined || this.currentFill === 0) return;
    if (this.writeNow !== undefined) {
      this.writeCurrentNow(this.writeNow);
      return;
    }
    this.queue.push(this.current.subarray(0, this.currentFill));
    this.queuedBytes += this.currentFill;
    this.current = undefined;
    this.currentFill = 0;
    this.writing ??= this.drain();
  }

  /** `writeNow`: writes the current buffer (repeating short writes) and keeps it for the next bytes. */
  private writeCurrentNow(writeNow: (buffers: Buffer[], position: number) => number): void {
    const current = this.current as Buffer;
    let offset = 0;
    try {
      while (offset < this.currentFill) {
        const bytesWritten = writeNow([current.subarray(offset, this.currentFill)], this.written);
        if (bytesWritten <= 0) throw new Error('the file accepted no bytes');
        offset += bytesWritten;
        this.written += bytesWritten;
      }
      this.currentFill = 0;
    } catch (error) {
      this.failure = writeError(this.written, error);
      this.current = undefined;
      this.currentFill = 0;
      throw this.failure;
    }
  }

  private async bufferFree(): Promise<void> {
    while (this.batch !== undefined && this.allocated - this.spare.length > this.maxBuffers - 1) {
      await this.batch.catch(() => undefined);
    }
    if (this.failure !== undefined) throw this.failure;
  }

  /** Writes queued buffers until none is left; runs at most once at a time (`writing`). */
  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= MAX_BUFFERS_PER_WRITE ? this.queue : this.queue.slice(0, MAX_BUFFERS_PER_WRITE);
        this.queue = batch === this.queue ? [] : this.queue.slice(MAX_BUFFERS_PER_WRITE);
        this.batch = this.writeAll(batch);
        await this.batch;
        // The views' backing buffers are free again (a view never spans two staging buffers).
        for (const view of batch) this.spare.push(Buffer.from(view.buffer, view.byteOffset, this.bufferBytes));
      }
    } catch (error) {
      this.failure = writeError(this.written, error);
      this.queue = [];
      this.queuedBytes = 0;
      this.current = undefined;
      this.currentFill = 0;
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

function writeError(position: number, cause: unknown): FtpError {
  return new FtpError('usage', `cannot write at byte ${position}: ${(cause as Error).message}`, { cause });
}
