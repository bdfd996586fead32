// Every wait in the client goes through `waitFor`: it has a timeout (or is explicitly unbounded because something
// else bounds it) and honours an AbortSignal, and it always removes its listeners and timer when it settles.

import { FtpError, abortError } from './errors.js';

export interface WaitOptions {
  /** Milliseconds before rejecting with FtpError('timeout'); undefined = no timer (bounded by something else). */
  readonly timeoutMs: number | undefined;
  /** What is being waited for, for the timeout message ("reply to RETR"). */
  readonly what: string;
  readonly signal?: AbortSignal | undefined;
  /** Ends the wait with the interrupt's reason (the client's own cancellation; no AbortSignal to make). */
  readonly interrupt?: Interrupt | undefined;
  /** Times the wait with this timer instead of a new setTimeout (one wait at a time uses it). */
  readonly timer?: ReusableTimer | undefined;
}

/**
 * One timer for a sequence of waits (a control connection's replies, a client's keepalive). Node keeps a list
 * per timer duration and drops it with its last timer, so a new setTimeout per wait made and dropped a list each
 * time, a measurable part of a small file's fetch; a timer that stays in its list is re-armed cheaply. Between
 * waits it is unref'd, so it never keeps the process alive by itself.
 */
export class ReusableTimer {
  private timer: NodeJS.Timeout | undefined;
  private durationMs = -1;
  private callback: (() => void) | undefined;
  private readonly fire = (): void => {
    const callback = this.callback;
    this.callback = undefined;
    callback?.();
  };

  /** Calls `callback` after `ms` unless stopped first; replaces any wait in progress. */
  start(ms: number, callback: () => void): void {
    this.callback = callback;
    if (this.timer === undefined || ms !== this.durationMs) {
      if (this.timer !== undefined) clearTimeout(this.timer);
      this.timer = setTimeout(this.fire, ms);
      this.durationMs = ms;
      return;
    }
    this.timer.refresh();
    this.timer.ref();
  }

  stop(): void {
    this.callback = undefined;
    this.timer?.unref();
  }

  /** Stops for good (the connection is gone). */
  dispose(): void {
    this.callback = undefined;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/**
 * The client's internal cancellation of a wait: making an AbortSignal costs ~7 µs (AbortSignal.any ~25 µs), and
 * a transfer needed four. Sticky like a signal: once fired, every later wait given it fails at once. One wait
 * listens at a time (the waits of one transfer are sequential).
 */
export class Interrupt {
  private firedWith: FtpError | undefined;
  private listener: ((reason: FtpError) => void) | undefined;

  get reason(): FtpError | undefined {
    return this.firedWith;
  }

  fire(reason: FtpError): void {
    if (this.firedWith !== undefined) return;
    this.firedWith = reason;
    const listener = this.listener;
    this.listener = undefined;
    listener?.(reason);
  }

  /** @internal waitFor's hook; returns the unregister function. */
  listen(listener: (reason: FtpError) => void): () => void {
    this.listener = listener;
    return () => {
      if (this.listener === listener) this.listener = undefined;
    };
  }
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
    const { signal, timeoutMs, interrupt, timer: reusable } = options;
    if (signal?.aborted) {
      reject(abortError(signal));
      return;
    }
    if (interrupt?.reason !== undefined) {
      reject(interrupt.reason);
      return;
    }
    let settled = false;
    let cleanup: Cleanup | void = undefined;
    let timer: NodeJS.Timeout | undefined;
    let unlistenInterrupt: (() => void) | undefined;
    const onAbort = (): void => finish(() => reject(abortError(signal as AbortSignal)));
    const finish = (action: () => void): void => {
      if (settled) return;
      settled = true;
      if (timer !== undefined) clearTimeout(timer);
      if (timeoutMs !== undefined) reusable?.stop();
      signal?.removeEventListener('abort', onAbort);
      unlistenInterrupt?.();
      if (cleanup) cleanup();
      action();
    };
    if (timeoutMs !== undefined) {
      const onTimeout = (): void => finish(() => reject(new FtpError('timeout', `${options.what} timed out after ${timeoutMs} ms`)));
      if (reusable !== undefined) reusable.start(timeoutMs, onTimeout);
      else timer = setTimeout(onTimeout, timeoutMs);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    if (interrupt !== undefined) unlistenInterrupt = interrupt.listen((reason) => finish(() => reject(reason)));
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
