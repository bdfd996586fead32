import { describe, expect, it } from 'vitest';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { runningFromSource, spawnWorker } from '../src/main/spawn-worker.js';
import type { EchoApi } from './fixtures/echo-worker.js';

describe('spawnWorker', () => {
  it('starts a TypeScript worker under vitest and drives it through comlink', async () => {
    expect(runningFromSource).toBe(true);
    const worker = spawnWorker(new URL('./fixtures/echo-worker.ts', import.meta.url), { workerData: { prefix: 'hello' } });
    try {
      const api = Comlink.wrap<EchoApi>(nodeEndpoint(worker));
      expect(await api.greet('ring')).toBe('hello ring');
      expect(await api.sourceIsTs()).toBe(true);
    } finally {
      await worker.terminate();
    }
  });
});
