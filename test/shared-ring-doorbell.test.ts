import { describe, expect, it } from 'vitest';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../src/main/spawn-worker.js';
import { DoorbellTable, FrameRing, doorbellTable, installDoorbellTable } from '../src/shared-ring/index.js';
import type { RingWorkerData, StressResult } from './fixtures/ring-worker.js';

function start(workerData: RingWorkerData): { worker: Worker; result: Promise<StressResult> } {
  const worker = spawnWorker(new URL('./fixtures/ring-worker.ts', import.meta.url), { workerData });
  const result = new Promise<StressResult>((resolve, reject) => {
    worker.once('message', (message: { result: StressResult }) => resolve(message.result));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`ring worker exited with code ${code} before reporting`)));
  });
  return { worker, result };
}

describe('DoorbellTable', () => {
  it('hands out every id once, refuses when full, and reuses freed ids', () => {
    const table = DoorbellTable.create(5);
    const ids = [table.allocate(), table.allocate(), table.allocate(), table.allocate()];
    expect([...ids].sort()).toEqual([1, 2, 3, 4]);
    expect(() => table.allocate()).toThrow(/all 4 doorbells are in use/);
    table.free(3);
    expect(table.allocate()).toBe(3);
    expect(() => table.free(0)).toThrow(/no doorbell 0/);
    expect(() => table.free(5)).toThrow(/no doorbell 5/);
    table.free(2);
    expect(() => table.free(2)).toThrow(/not allocated/);
    // Another thread's view shares the allocation state.
    const other = DoorbellTable.attach(table.buffer);
    expect(other.allocate()).toBe(2);
    expect(() => table.allocate()).toThrow(/in use/);
  });

  it('attach validates the buffer', () => {
    expect(() => DoorbellTable.attach(new SharedArrayBuffer(64 * 8))).toThrow(/not a doorbell table/);
    expect(() => DoorbellTable.attach(new SharedArrayBuffer(100))).toThrow(/not the size/);
    expect(() => DoorbellTable.attach(new ArrayBuffer(64 * 8) as unknown as SharedArrayBuffer)).toThrow(TypeError);
    expect(() => DoorbellTable.create(1)).toThrow(RangeError);
    expect(DoorbellTable.attach(DoorbellTable.create(8).buffer).slots).toBe(8);
  });

  it('ring without a sleeper leaves the sequence alone; with one, the sleeper does not block', () => {
    const table = DoorbellTable.create(4);
    const id = table.allocate();
    const before = table.prepareSleep(id);
    table.finishSleep(id);
    table.ring(id); // nobody sleeps: no change
    const seq = table.prepareSleep(id);
    expect(seq).toBe(before);
    table.ring(id); // a sleeper announced itself: the sequence moves, its wait returns at once
    expect(table.wait(id, seq, 10_000)).toBe('not-equal');
    table.finishSleep(id);
    const again = table.prepareSleep(id);
    expect(table.wait(id, again, 1)).toBe('timed-out');
    table.finishSleep(id);
    table.ring(0); // "none" is a no-op
    expect(() => table.ring(4)).toThrow(RangeError);
  });

  it('the module-level table is the installed one, or a lazily created one', () => {
    const lazy = doorbellTable();
    expect(doorbellTable()).toBe(lazy);
    const mine = DoorbellTable.create(8);
    installDoorbellTable(mine);
    expect(doorbellTable()).toBe(mine);
  });

  it('wakes the main thread in waitAsync when a worker publishes into its ring', async () => {
    const table = DoorbellTable.create(8);
    installDoorbellTable(table);
    const id = table.allocate();
    const ring = FrameRing.create(4096);
    ring.setConsumerDoorbell(id);
    const seq = table.prepareSleep(id);
    const { worker, result } = start({ role: 'delayed-producer', doorbells: table.buffer, ring: ring.buffer as SharedArrayBuffer, delayMs: 50, value: 42 });
    try {
      expect(ring.peek()).toBe(-1); // the re-check: nothing yet, so sleep
      expect(await table.waitAsync(id, seq, 10_000)).toBe('ok');
      table.finishSleep(id);
      const at = ring.peek();
      expect(at).toBeGreaterThan(0);
      expect(ring.bytes[at]).toBe(42);
      await result;
    } finally {
      await worker.terminate();
      table.free(id);
    }
  });

  it('waitAsync resolves not-equal at once when rung between prepareSleep and the wait', async () => {
    const table = DoorbellTable.create(4);
    const id = table.allocate();
    const seq = table.prepareSleep(id);
    table.ring(id);
    expect(await table.waitAsync(id, seq, 10_000)).toBe('not-equal');
    table.finishSleep(id);
  });

  it('two worker threads ping-pong 2000 messages, each sleeping on its own doorbell between them', async () => {
    const doorbells = DoorbellTable.create(8).buffer;
    const there = FrameRing.create(4096).buffer as SharedArrayBuffer;
    const back = FrameRing.create(4096).buffer as SharedArrayBuffer;
    const rounds = 2000;
    const server = start({ role: 'ping-pong', doorbells, inbox: there, outbox: back, rounds, serve: true });
    const client = start({ role: 'ping-pong', doorbells, inbox: back, outbox: there, rounds, serve: false });
    try {
      const [served, asked] = await Promise.all([server.result, client.result]);
      expect(asked.errors).toEqual([]);
      expect(asked.records).toBe(rounds);
      expect(served.records).toBe(rounds);
      // The server waits for every request; that most of those waits ended in a real wake-up proves the
      // doorbell woke a sleeping thread (a missed wake-up would show as a 5 s timeout and fail the run).
      expect(served.sleeps.ok).toBeGreaterThan(0);
      expect(served.sleeps.timedOut + asked.sleeps.timedOut).toBe(0);
    } finally {
      await Promise.all([server.worker.terminate(), client.worker.terminate()]);
    }
  });
});
