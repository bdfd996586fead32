import { describe, expect, it } from 'vitest';
import { spawnWorker } from '../src/main/spawn-worker.js';
import { ByteRing, DoorbellTable, FrameRing } from '../src/shared-ring/index.js';
import type { RingWorkerData, StressResult } from './fixtures/ring-worker.js';

const GiB = 1 << 30;

/** Runs the fixture workers side by side and returns their results in order; terminates them all in any case. */
async function runWorkers(jobs: RingWorkerData[]): Promise<StressResult[]> {
  const workers = jobs.map((workerData) => spawnWorker(new URL('./fixtures/ring-worker.ts', import.meta.url), { workerData }));
  try {
    return await Promise.all(
      workers.map(
        (worker) =>
          new Promise<StressResult>((resolve, reject) => {
            worker.once('message', (message: { result: StressResult }) => resolve(message.result));
            worker.once('error', reject);
            worker.once('exit', (code) => reject(new Error(`ring worker exited with code ${code} before reporting`)));
          }),
      ),
    );
  } finally {
    await Promise.all(workers.map((worker) => worker.terminate()));
  }
}

describe('shared-ring stress between two threads', () => {
  it('moves 1 GiB of random-size frames (0..9000 B) through a frame ring without loss, duplication or damage', async () => {
    const doorbells = DoorbellTable.create(16).buffer;
    const ring = FrameRing.create(1 << 20).buffer as SharedArrayBuffer;
    const seed = 0x2545f491;
    const [produced, consumed] = await runWorkers([
      { role: 'frame-producer', doorbells, ring, seed, totalBytes: GiB },
      { role: 'frame-consumer', doorbells, ring, seed, totalBytes: GiB },
    ]);
    expect(consumed.errors).toEqual([]);
    expect(produced.bytes).toBeGreaterThanOrEqual(GiB);
    expect(consumed.records).toBe(produced.records);
    expect(consumed.bytes).toBe(produced.bytes);
    expect(consumed.sha256).toBe(produced.sha256);
  });

  it('moves 1 GiB through a byte ring (writes, out-of-order writeAt, reads, zero-copy spans) byte for byte', async () => {
    const doorbells = DoorbellTable.create(16).buffer;
    const ring = ByteRing.create(1 << 20).buffer as SharedArrayBuffer;
    const seed = 0x9e3779b9;
    const [produced, consumed] = await runWorkers([
      { role: 'byte-producer', doorbells, ring, seed, totalBytes: GiB },
      { role: 'byte-consumer', doorbells, ring, seed, totalBytes: GiB },
    ]);
    expect(produced.bytes).toBeGreaterThanOrEqual(GiB);
    expect(consumed.bytes).toBe(produced.bytes);
    expect(consumed.sha256).toBe(produced.sha256);
  });
});
