// The client's waits (src/ftp/wait.ts): an Interrupt ends a wait like an AbortSignal but stays cheap, and one
// ReusableTimer serves a sequence of waits, each getting its own full timeout and none firing after it settled.

import { describe, expect, it } from 'vitest';
import { FtpError } from '../src/ftp/errors.js';
import { Interrupt, ReusableTimer, sleep, waitFor } from '../src/ftp/wait.js';
import { rejection } from './helpers/ftp-assertions.js';

/** A wait that settles only when its resolver is called (or by timeout/interrupt). */
function pending(options: Parameters<typeof waitFor>[1]): { promise: Promise<string>; resolve: (value: string) => void } {
  let resolve: (value: string) => void = () => undefined;
  const promise = waitFor<string>((done) => {
    resolve = done;
  }, options);
  promise.catch(() => undefined);
  return { promise, resolve: (value) => resolve(value) };
}

describe('Interrupt', () => {
  it('ends a pending wait with its reason, and every later wait at once (sticky)', async () => {
    const interrupt = new Interrupt();
    const wait = pending({ timeoutMs: undefined, what: 'reply', interrupt });
    interrupt.fire(new FtpError('timeout', 'no reply after the data ended'));
    const error = await rejection(wait.promise);
    expect(error.kind).toBe('timeout');
    expect(error.message).toBe('no reply after the data ended');
    // A second fire keeps the first reason.
    interrupt.fire(new FtpError('aborted', 'later'));
    expect(interrupt.reason?.message).toBe('no reply after the data ended');
    const later = await rejection(waitFor<void>(() => undefined, { timeoutMs: 1000, what: 'later', interrupt }));
    expect(later.message).toBe('no reply after the data ended');
  });

  it('leaves a wait that settled first alone, and its cleanup ran', async () => {
    const interrupt = new Interrupt();
    let cleaned = 0;
    const value = await waitFor<string>((resolve) => {
      resolve('reply');
      return () => void cleaned++;
    }, { timeoutMs: 1000, what: 'reply', interrupt });
    expect(value).toBe('reply');
    expect(cleaned).toBe(1);
    interrupt.fire(new FtpError('aborted', 'too late')); // nobody listens any more: no throw, no second cleanup
    expect(cleaned).toBe(1);
  });
});

describe('ReusableTimer', () => {
  it('gives each wait its own full timeout, not the rest of the previous one', async () => {
    const timer = new ReusableTimer();
    try {
      const first = pending({ timeoutMs: 150, what: 'first', timer });
      await sleep(100);
      first.resolve('one');
      expect(await first.promise).toBe('one');
      // Started at ~100 ms: past the first wait's deadline (150 ms) it must still be waiting.
      const second = pending({ timeoutMs: 150, what: 'second', timer });
      let secondSettled = false;
      void second.promise.then(() => (secondSettled = true), () => (secondSettled = true));
      await sleep(90);
      expect(secondSettled).toBe(false);
      second.resolve('two');
      expect(await second.promise).toBe('two');
      // The third times out, through the same timer, with its own message.
      const third = await rejection(pending({ timeoutMs: 30, what: 'third reply', timer }).promise);
      expect(third.kind).toBe('timeout');
      expect(third.message).toBe('third reply timed out after 30 ms');
    } finally {
      timer.dispose();
    }
  });

  it('a stopped timer calls nothing when its old deadline passes; start after dispose works again', async () => {
    const timer = new ReusableTimer();
    let fired = 0;
    timer.start(20, () => void fired++);
    timer.stop();
    await sleep(50);
    expect(fired).toBe(0);
    timer.dispose();
    timer.start(10, () => void fired++);
    await sleep(40);
    expect(fired).toBe(1);
    timer.dispose();
  });

  it('a wait with a different timeout than the last one is timed with that timeout', async () => {
    const timer = new ReusableTimer();
    try {
      const quick = pending({ timeoutMs: 1000, what: 'quick', timer });
      quick.resolve('ok');
      await quick.promise;
      const error = await rejection(pending({ timeoutMs: 20, what: 'short wait', timer }).promise);
      expect(error.message).toBe('short wait timed out after 20 ms');
    } finally {
      timer.dispose();
    }
  });
});
