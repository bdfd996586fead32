import { setImmediate as immediate } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import { RealClock } from '../src/main/clock.js';
import { InlineScheduler } from '../src/main/inline-scheduler.js';
import type { StageHost } from '../src/workers/stage-host.js';

/** A stage host with no work whose next timer is `dueInMs` from whenever it is asked. */
function idleHost(clock: RealClock, dueInMs: () => number): { host: StageHost; polls: () => number } {
  let polls = 0;
  const host = {
    runOnce: () => {
      polls++;
      return 0;
    },
    pollAt: () => clock.now() + dueInMs(),
  } as unknown as StageHost;
  return { host, polls: () => polls };
}

const timeouts = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('InlineScheduler on the real clock', () => {
  it('keeps one timer for the earliest stage timer however often it is kicked, and drops it with the last host', async () => {
    const clock = new RealClock();
    const scheduler = new InlineScheduler(clock);
    const base = timeouts();
    let due = 60_000;
    const { host, polls } = idleHost(clock, () => due);
    scheduler.addHost(host);
    await immediate();
    expect(timeouts()).toBe(base + 1);
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const clearTimeoutSpy = vi.spyOn(globalThis, 'clearTimeout');
    try {
      for (let i = 0; i < 50; i++) {
        scheduler.kick();
        await immediate();
      }
      expect(polls()).toBeGreaterThanOrEqual(50); // every kick ran the host...
      expect(setTimeoutSpy).not.toHaveBeenCalled(); // ...and left the one timer in place
      expect(clearTimeoutSpy).not.toHaveBeenCalled();
    } finally {
      setTimeoutSpy.mockRestore();
      clearTimeoutSpy.mockRestore();
    }
    expect(timeouts()).toBe(base + 1);
    // An earlier stage timer replaces it; it fires and runs the host.
    due = 5;
    scheduler.kick();
    await immediate();
    expect(timeouts()).toBe(base + 1);
    const before = polls();
    due = 60_000;
    await new Promise((r) => setTimeout(r, 30));
    expect(polls()).toBeGreaterThan(before);
    scheduler.removeHost(host);
    expect(timeouts()).toBe(base);
  });
});
