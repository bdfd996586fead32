// Moving bytes over a data connection with bounded memory (backpressure both ways) and an idle timeout that
// restarts with every chunk: a stalled server is detected however long the transfer is.

import type { Duplex } from 'node:stream';
import { FtpError, abortError } from './errors.js';
import { waitFor } from './wait.js';

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
}

export interface ReceiveResult {
  readonly bytes: number;
  /** true if we stopped at `limit` before the server ended the stream (the caller aborts the transfer). */
  readonly stoppedEarly: boolean;
}

/** Reads `socket` to its end (or `limit`), handing each chunk to `consume` and waiting for it (backpressure). */
export async function receiveData(
  socket: Duplex,
  consume: (chunk: Buffer) => Promise<void> | void,
  options: ReceiveOptions,
): Promise<ReceiveResult> {
  const { idleMs, signal } = options;
  const limitNow = (): number | undefined => (typeof options.limit === 'function' ? options.limit() : options.limit);
  const hardLimit = (): boolean =>
    typeof options.overflowIsError === 'function' ? options.overflowIsError() : options.overflowIsError;
  let bytes = 0;
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    timer = setTimeout(
      () => socket.destroy(new FtpError('timeout', `data connection idle for ${idleMs} ms (received ${bytes} bytes)`)),
      idleMs,
    );
  };
  const disarm = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
  };
  const onAbort = (): void => {
    socket.destroy(abortError(signal as AbortSignal));
  };
  if (signal?.aborted) throw abortError(signal);
  signal?.addEventListener('abort', onAbort, { once: true });
  arm();
  try {
    for await (const data of socket) {
      disarm();
      let chunk = data as Buffer;
      const limit = limitNow();
      if (limit !== undefined && bytes + chunk.length > limit) {
        if (hardLimit()) {
          throw new FtpError('protocol', `server sent more than the ${limit} bytes expected (SIZE said less)`);
        }
        chunk = chunk.subarray(0, limit - bytes);
        if (chunk.length > 0) await consume(chunk);
        bytes += chunk.length;
        options.onBytes?.(chunk.length);
        return { bytes, stoppedEarly: true };
      }
      await consume(chunk);
      bytes += chunk.length;
      options.onBytes?.(chunk.length);
      if (limit !== undefined && bytes === limit && !hardLimit()) return { bytes, stoppedEarly: true };
      arm();
    }
    return { bytes, stoppedEarly: false };
  } catch (error) {
    if (error instanceof FtpError) throw error;
    throw new FtpError('connection', `data connection failed after ${bytes} bytes: ${(error as Error).message}`, { cause: error });
  } finally {
    disarm();
    signal?.removeEventListener('abort', onAbort);
  }
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
