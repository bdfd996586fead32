// Every wait in the client goes through `waitFor`: it has a timeout (or is explicitly unbounded because something
// else bounds it) and honours an AbortSignal, and it always removes its listeners and timer when it settles.

import { FtpError, abortError } from './errors.js';

export interface WaitOptions {
  /** Milliseconds before rejecting with FtpError('timeout'); undefined = no timer (bounded by something else). */
  readonly timeoutMs: number | undefined;
  /** What is being waited for, for the timeout message ("reply to RETR"). */
  readonly what: string;
  readonly signal?: AbortSignal | undefined;
}

type Cleanup = () => void;

/**
 * Runs `executor` like a Promise executor; it may return a cleanup function, which runs once when the promise
 * settles (resolved, rejected, timed out or aborted).
 */
export function waitFor<T>(
  executor: (resolve: (value: T) => void, reject: (error: unknown) => void) => Cleanup | void,
  options: WaitOptions,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const { signal, timeoutMs } = options;
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    let settled = false;
    let cleanup: Cleanup | void = undefined;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => finish(() => reject(abortError(signal as AbortSignal)));
    const finish = (action: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (cleanup) cleanup();
      action();
    };
    if (timeoutMs !== undefined) {
      timer = setTimeout(
        () => finish(() => reject(new FtpError('timeout', `${options.what} timed out after ${timeoutMs} ms`))),
        timeoutMs,
      );
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      cleanup = executor(
        (value) => finish(() => resolve(value)),
        (error) => finish(() => reject(error)),
      );
    } catch (error) {
      finish(() => reject(error));
    }
    // The executor may have settled synchronously, before `cleanup` was assigned.
    if (settled && cleanup) cleanup();
  });
}

/** Resolves after `ms` milliseconds, or rejects when `signal` fires. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return waitFor<void>(
    (resolve) => {
      const timer = setTimeout(resolve, ms);
      return () => clearTimeout(timer);
    },
    { timeoutMs: undefined, what: 'sleep', signal },
  );
}
