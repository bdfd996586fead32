import { Piscina } from 'piscina';
import { afterEach, expect, it } from 'vitest';
import { createMemoryWire, createStack, shareStack, type Stack } from '../src/main/index.js';
import { workerExecArgv } from '../src/main/spawn-worker.js';
import type { EchoTask } from './fixtures/app-thread-task.js';

const open: Stack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

// A pool of application threads (piscina) sharing one stack: each thread has its own app channel and socket
// buffers; the protocol stage serves them all.
it('a piscina pool of application threads shares one stack', async () => {
  const [a, b] = createMemoryWire();
  const client = await createStack({ link: a, address: '198.18.1.1/24' });
  open.push(client);
  const server = await createStack({ link: b, address: '198.18.1.2/24' });
  open.push(server);
  let accepted = 0;
  const echo = server.createServer((s) => {
    accepted++;
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(7, r));
  const shared = await shareStack(client, 2);
  const pool = new Piscina({
    filename: new URL('./fixtures/app-thread-task.ts', import.meta.url).href,
    execArgv: workerExecArgv(),
    minThreads: 2,
    maxThreads: 2,
  });
  pool.on('error', (err) => {
    throw err;
  });
  try {
    const tasks: Promise<{ threadId: number; bytes: number; ok: boolean }>[] = [];
    for (let i = 0; i < 40; i++) {
      const task: EchoTask = { handle: shared.handle, host: '198.18.1.2', port: 7, bytes: 1000 + i * 5000 };
      tasks.push(pool.run(task));
    }
    const results = await Promise.all(tasks);
    results.forEach((r, i) => expect(r).toMatchObject({ bytes: 1000 + i * 5000, ok: true }));
    expect(new Set(results.map((r) => r.threadId)).size).toBe(2); // both threads did work
    expect(accepted).toBe(40); // one connection per task, all through the one client stack
  } finally {
    await pool.destroy();
    shared.close();
  }
});
