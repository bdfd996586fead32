// Moving bytes over a data connection with bounded memory (backpressure both ways) and an idle timeout that
// restarts with every chunk: a stalled server is detected however long the transfer is.

import type { Duplex } from 'node:stream';
import { FtpError, abortError } from './errors.js';
import type { FtpDirectReceive } from './transport.js';
import { waitFor, type ReusableTimer } from './wait.js';

export interface ReceiveOptions {
  /**
   * Stop after this many bytes. A function is asked again for every chunk: a segmented download shrinks a
   * running range when it hands half of it to another connection.
   */
  readonly limit?: number | (() => number | undefined) | undefined;
  /** true: bytes past `limit` are a protocol error (the file is larger than SIZE said); false: stop and return. */
  readonly overflowIsError: boolean | (() => boolean);
  readonly idleMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly onBytes?: ((bytes: number) => void) | undefined;
  /**
   * The receive buffer the socket was connected with (FtpConnectOptions.receive). Its reads reach `consume` as
   * views of that one buffer, so `consume` must copy what it keeps. 'data' events are handled too, for a
   * transport that ignored it.
   */
  readonly direct?: DirectReceiver | undefined;
  /** Runs the idle timer on this timer (the client's, reused by each transfer) instead of a new setTimeout. */
  readonly timer?: ReusableTimer | undefined;
}

/**
 * Caller-owned receive buffers for one data connection (FtpConnectOptions.receive). Reads that arrive before
 * `receiveData` takes over (between connecting and the server's 150) go to `buffer` and are copied aside, at most
 * `EARLY_LIMIT` bytes before the socket is paused. After that, reads go where `readInto` says (a PositionedWriter's
 * free space, so the bytes are read where they will be written from), or to `buffer` when it has no room.
 * `buffer` may be shared by transfers that run one after another (a client's downloads): each transfer makes its
 * own receiver, so a late read of an old connection can never reach the next transfer's reader.
 */
export class DirectReceiver implements FtpDirectReceive {
  readonly buffer: Uint8Array;
  private readonly readInto: (() => Uint8Array) | undefined;
  private handler: ((length: number, buffer: Uint8Array) => boolean) | undefined;
  private early: Buffer[] = [];
  private earlyBytes = 0;

  constructor(buffer: Uint8Array | number = RECEIVE_BUFFER_BYTES, readInto?: () => Uint8Array) {
    this.buffer = typeof buffer === 'number' ? new Uint8Array(buffer) : buffer;
    this.readInto = readInto;
  }

  nextBuffer(): Uint8Array {
    if (this.handler !== undefined && this.readInto !== undefined) {
      const into = this.readInto();
      // An empty buffer cannot take a read (node:net fails it with ENOBUFS): use our own.
      if (into.length > 0) return into;
    }
    return this.buffer;
  }

  onData(length: number, buffer: Uint8Array): boolean {
    if (this.handler !== undefined) return this.handler(length, buffer);
    // Not Buffer.from(view), which zero-fills fresh memory before copying: ~3× slower per MiB.
    const copy = Buffer.allocUnsafe(length);
    copy.set(buffer.subarray(0, length));
    this.early.push(copy);
    this.earlyBytes += length;
    return this.earlyBytes < EARLY_LIMIT;
  }

  /** From now on reads go to `handler`; returns the copies of what came before. */
  take(handler: (length: number, buffer: Uint8Array) => boolean): Buffer[] {
    this.handler = handler;
    const early = this.early;
    this.early = [];
    this.earlyBytes = 0;
    return early;
  }

  /** Back to copying aside into `buffer` (the reader is gone; a late read must not reach it). */
  release(): void {
    this.handler = undefined;
  }
}

const EARLY_LIMIT = 1024 * 1024;
/** A direct receive buffer's default size: four 64 KiB reads of a fast stream per event-loop turn. */
export const RECEIVE_BUFFER_BYTES = 256 * 1024;

export interface ReceiveResult {
  readonly bytes: number;
  /** true if we stopped at `limit` before the server ended the stream (the caller aborts the transfer). */
  readonly stoppedEarly: boolean;
}

/**
 * Reads `socket` to its end (or `limit`), handing each chunk to `consume`. The socket flows ('data' events, no
 * async iterator: one event per socket read, nothing buffered in between); when `consume` returns a promise the
 * socket is paused until it settles (backpressure), so a consumer that queues its work returns undefined and
 * keeps the data moving. The idle timer is one timer checked against the last activity, not one per chunk, and
 * does not run while the consumer holds the socket paused.
 */
export function receiveData(
  socket: Duplex,
  consume: (chunk: Buffer) => Promise<void> | void,
  options: ReceiveOptions,
): Promise<ReceiveResult> {
  const { idleMs, signal } = options;
  const limitNow = (): number | undefined => (typeof options.limit === 'function' ? options.limit() : options.limit);
  const hardLimit = (): boolean =>
    typeof options.overflowIsError === 'function' ? options.overflowIsError() : options.overflowIsError;
  if (signal?.aborted) return Promise.reject(abortError(signal));
  return new Promise<ReceiveResult>((resolve, reject) => {
    let bytes = 0;
    let settled = false;
    let ended = false;
    /** The consumer's promise while the socket is paused for it. */
    let consuming: Promise<void> | undefined;
    /** Chunks that arrived while paused (a stream may still deliver what it had in hand). */
    const backlog: Buffer[] = [];
    let lastActivity = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const armIdle = (ms: number): void => {
      if (options.timer !== undefined) options.timer.start(ms, checkIdle);
      else timer = setTimeout(checkIdle, ms);
    };

    const settle = (action: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      options.timer?.stop();
      socket.off('data', onData);
      options.direct?.release();
      stopWatching();
      signal?.removeEventListener('abort', onAbort);
      socket.pause();
      // Stopped early or failed: nobody reads this socket any more (an async iterator would destroy it too).
      // Destroyed without an error, so no 'error' event fires with no listener left.
      if (!ended) socket.destroy();
      action();
    };
    const fail = (error: unknown): void =>
      settle(() =>
        reject(
          error instanceof FtpError
            ? error
            : new FtpError('connection', `data connection failed after ${bytes} bytes: ${(error as Error).message}`, { cause: error }),
        ),
      );
    const succeed = (stoppedEarly: boolean): void => settle(() => resolve({ bytes, stoppedEarly }));

    const checkIdle = (): void => {
      timer = undefined;
      if (settled) return;
      const quiet = performance.now() - lastActivity;
      if (consuming === undefined && quiet >= idleMs) {
        fail(new FtpError('timeout', `data connection idle for ${idleMs} ms (received ${bytes} bytes)`));
        return;
      }
      armIdle(consuming === undefined ? Math.max(1, idleMs - quiet) : idleMs);
    };

    /** Hands one chunk on; returns false once the transfer is settled or paused for the consumer. */
    const deliver = (data: Buffer): boolean => {
      let chunk = data;
      const limit = limitNow();
      let atLimit = false;
      if (limit !== undefined && bytes + chunk.length >= limit) {
        if (bytes + chunk.length > limit && hardLimit()) {
          fail(new FtpError('protocol', `server sent more than the ${limit} bytes expected (SIZE said less)`));
          return false;
        }
        chunk = chunk.subarray(0, limit - bytes);
        atLimit = !hardLimit();
      }
      let pending: Promise<void> | void;
      try {
        pending = chunk.length > 0 ? consume(chunk) : undefined;
      } catch (error) {
        fail(error);
        return false;
      }
      bytes += chunk.length;
      if (chunk.length > 0) options.onBytes?.(chunk.length);
      if (atLimit) {
        if (pending === undefined) succeed(true);
        else pending.then(() => succeed(true), fail);
        return false;
      }
      if (pending !== undefined) {
        socket.pause();
        consuming = pending;
        pending.then(resumeAfterConsumer, fail);
        return false;
      }
      return true;
    };

    const resumeAfterConsumer = (): void => {
      consuming = undefined;
      if (settled) return;
      lastActivity = performance.now();
      while (backlog.length > 0) {
        if (!deliver(backlog.shift() as Buffer)) return;
      }
      if (ended) succeed(false);
      else socket.resume();
    };

    const onData = (data: Buffer): void => {
      if (settled) return;
      lastActivity = performance.now();
      if (consuming !== undefined) backlog.push(data);
      else deliver(data);
    };
    const onAbort = (): void => fail(abortError(signal as AbortSignal));
    // The end, an error, or a close before the end; below, also one that happened before we listened (a
    // connection read through `direct` may end before the server's 150). Plain listeners: stream.finished did
    // the same with twice as many, a measurable part of a small file's fetch.
    const onEnd = (): void => {
      if (settled) return;
      ended = true;
      if (consuming === undefined && backlog.length === 0) succeed(false);
    };
    const onError = (error: Error): void => fail(error);
    const onClose = (): void => {
      if (!ended) fail(new FtpError('connection', `data connection closed before its end, after ${bytes} bytes`));
    };
    socket.on('end', onEnd);
    socket.on('error', onError); // stays: a late error of a settled transfer must not go unheard (and crash)
    socket.on('close', onClose);
    const stopWatching = (): void => {
      socket.off('end', onEnd);
      socket.off('close', onClose);
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    armIdle(idleMs);
    if (options.direct !== undefined) {
      const { direct } = options;
      const early = direct.take((length, buffer) => {
        if (settled) return false;
        lastActivity = performance.now();
        // Paused for the consumer, the socket reads nothing more, so this cannot overlap a pending consume.
        return deliver(Buffer.from(buffer.buffer, buffer.byteOffset, length));
      });
      for (const chunk of early) onData(chunk);
    }
    socket.on('data', onData);
    if (!settled && socket.readableEnded) onEnd();
    else if (!settled && socket.destroyed) {
      if (socket.errored !== null) fail(socket.errored);
      else onClose();
    }
    if (!settled && consuming === undefined) socket.resume();
  });
}

export interface SendOptions {
  readonly idleMs: number;
  readonly signal?: AbortSignal | undefined;
  readonly onBytes?: ((bytes: number) => void) | undefined;
}

/** Writes `source` to `socket`, respecting backpressure, then half-closes it (TLS: close_notify, then FIN). */
export async function sendData(socket: Duplex, source: AsyncIterable<Uint8Array>, options: SendOptions): Promise<number> {
  const { idleMs, signal } = options;
  let bytes = 0;
  const waitSocket = (event: 'drain' | 'finish', what: string): Promise<void> =>
    waitFor<void>(
      (resolve, reject) => {
        const onEvent = (): void => resolve();
        const onError = (error: Error): void =>
          reject(new FtpError('connection', `data connection failed after ${bytes} bytes: ${error.message}`, { cause: error }));
        const onClose = (): void =>
          reject(new FtpError('connection', `data connection closed by the server after ${bytes} bytes`));
        socket.once(event, onEvent);
        socket.once('error', onError);
        socket.once('close', onClose);
        return () => {
          socket.off(event, onEvent);
          socket.off('error', onError);
          socket.off('close', onClose);
        };
      },
      { timeoutMs: idleMs, what, signal },
    );
  for await (const chunk of source) {
    if (signal?.aborted) throw abortError(signal);
    if (socket.destroyed) throw new FtpError('connection', `data connection closed by the server after ${bytes} bytes`);
    const writable = socket.write(chunk);
    bytes += chunk.length;
    options.onBytes?.(chunk.length);
    if (!writable) await waitSocket('drain', `data connection blocked for ${idleMs} ms`);
  }
  const finished = waitSocket('finish', 'finishing the upload');
  socket.end();
  await finished;
  return bytes;
}
