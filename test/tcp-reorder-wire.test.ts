// Reordering between two whole stacks: the memory wire's fault injector delays every frame 5 ms and holds some one
// more delay, on a virtual clock. RACK, D-SACK and undo (src/workers/tcp/rack.ts, dsack.ts, undo.ts) end to end,
// with the counters the protocol stage exports.
import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryWire, createStack, VirtualClock, type Stack } from '../src/main/index.js';

const open: Stack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function oneStream(reorder: number, bytes: number) {
  const clock = new VirtualClock();
  const [a, b] = createMemoryWire({ delayMs: 5, reorder, seed: 77 });
  const A = await createStack({ link: a, address: '198.18.3.1/24', layout: 'inline', clock });
  open.push(A);
  const B = await createStack({ link: b, address: '198.18.3.2/24', layout: 'inline', clock });
  open.push(B);
  let received = 0;
  let done!: () => void;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const server = B.createServer((socket) => {
    socket.on('data', (d: Buffer) => {
      received += d.length;
      if (received >= bytes) done();
    });
  });
  await new Promise<void>((resolve) => server.listen(7100, () => resolve()));
  const t0 = clock.now();
  const client = A.connect({ host: '198.18.3.2', port: 7100 });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  const connectMs = clock.now() - t0;
  const start = clock.now();
  const chunk = Buffer.alloc(1 << 20, 0x33);
  for (let sent = 0; sent < bytes; sent += chunk.length) {
    if (!client.write(chunk)) await new Promise((resolve) => client.once('drain', resolve));
  }
  await finished;
  const ms = clock.now() - start;
  const info = await client.getInfo();
  client.destroy();
  server.close();
  return { connectMs, ms, info, a: (await A.stats()).stages.proto ?? {}, b: (await B.stats()).stages.proto ?? {} };
}

describe('reordering over the memory wire (virtual clock)', () => {
  it('16 MiB with 2 % of frames a delay late: the first needless retransmissions are undone, then none', async () => {
    const bytes = 16 << 20;
    const { connectMs, ms, info, a, b } = await oneStream(0.02, bytes);
    // ARP and the handshake take 4 one-way trips of 5 ms; frames the injector releases are read at once.
    expect(connectMs).toBeLessThanOrEqual(25);
    expect(info).not.toBeNull();
    expect(info!.retransmits).toBeLessThan(20);
    expect(info!.spuriousRetransmits).toBeGreaterThan(0);
    expect(info!.undos).toBeGreaterThan(0);
    expect(a.tcpUndos).toBe(info!.undos);
    expect(a.tcpDsackIn).toBeGreaterThan(0);
    expect(b.tcpDsackOut).toBe(a.tcpDsackIn);
    // 256 KiB socket rings at 10 ms: ~200 Mbit/s at most. DupThresh alone managed ~10 here.
    expect((bytes * 8) / ms / 1000).toBeGreaterThan(100);
  }, 60_000);
});
