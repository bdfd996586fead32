// TCP under reordering: one stream over the memory wire between two inline stacks on a virtual clock, with the
// wire's fault injector delaying every frame and holding some back (reorder: held one more delay, so the frames
// behind overtake them), and optionally dropping some. Goodput is computed from virtual time, so it does not depend
// on the machine's load; the wall time is printed too (the CPU the run cost). REORDER_BENCH_LAYOUT=single runs the
// stages in a worker each on the real clock instead: goodput is then wall-clock goodput.
// Run: npx tsx bench/reorder.ts
//      REORDER_BENCH_MB=64, REORDER_BENCH_DELAY_MS=5 (one way), REORDER_BENCH_RATE_BPS=0 (0: no rate limit),
//      REORDER_BENCH_BUFFER=4194304 (socketBufferBytes), REORDER_BENCH_DUPLICATE=0,
//      REORDER_BENCH_CASES="0:0,0:0.02,0:0.1,0.01:0.02" (loss:reorder), REORDER_BENCH_LAYOUT=inline|single
// Figures go to docs/PERFORMANCE.md ("Reordering").
import os from 'node:os';
import { createMemoryWire, createStack, VirtualClock, type Stack, type StackLayout } from '../src/main/index.js';

const MEGABYTES = Number(process.env.REORDER_BENCH_MB ?? 64);
const DELAY_MS = Number(process.env.REORDER_BENCH_DELAY_MS ?? 5);
const RATE_BPS = Number(process.env.REORDER_BENCH_RATE_BPS ?? 0);
const BUFFER = Number(process.env.REORDER_BENCH_BUFFER ?? 4 << 20);
const DUPLICATE = Number(process.env.REORDER_BENCH_DUPLICATE ?? 0);
const LAYOUT = (process.env.REORDER_BENCH_LAYOUT ?? 'inline') as StackLayout;
const VIRTUAL = LAYOUT === 'inline';
const CASES = (process.env.REORDER_BENCH_CASES ?? '0:0,0:0.02,0:0.1,0.01:0.02').split(',').map((c) => {
  const [loss, reorder] = c.split(':').map(Number);
  if (!(loss >= 0 && loss < 1 && reorder >= 0 && reorder < 1)) throw new RangeError(`REORDER_BENCH_CASES: bad case "${c}"`);
  return { loss, reorder };
});

interface Row {
  loss: number;
  reorder: number;
  mbps: number;
  wallMs: number;
  counters: Record<string, number>;
}

/** The sender's (A's) protocol-stage counters that matter here; the receiver's D-SACKs sent. */
const SHOWN = ['tcpRetransmittedSegments', 'tcpRackLosses', 'tcpDsackIn', 'tcpSpuriousRetransmits', 'tcpUndos', 'tcpTlpProbes'];

async function oneCase(loss: number, reorder: number, seed: number): Promise<Row> {
  const clock = VIRTUAL ? new VirtualClock() : undefined;
  const [a, b] = createMemoryWire({ loss, reorder, duplicate: DUPLICATE || undefined, delayMs: DELAY_MS, rateBps: RATE_BPS || undefined, seed });
  const stacks: Stack[] = [];
  try {
    const A = await createStack({ link: a, address: '198.18.1.1/24', layout: LAYOUT, clock, socketBufferBytes: BUFFER });
    stacks.push(A);
    const B = await createStack({ link: b, address: '198.18.1.2/24', layout: LAYOUT, clock, socketBufferBytes: BUFFER });
    stacks.push(B);
    const total = MEGABYTES * 2 ** 20;
    let received = 0;
    let done!: () => void;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const server = B.createServer((socket) => {
      socket.on('data', (d: Buffer) => {
        received += d.length;
        if (received >= total) done();
      });
    });
    await new Promise<void>((resolve) => server.listen(7000, () => resolve()));
    const client = A.connect({ host: '198.18.1.2', port: 7000 });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    const chunk = Buffer.alloc(1 << 20, 0x5a);
    const v0 = clock?.now() ?? 0;
    const w0 = performance.now();
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!client.write(chunk)) await new Promise((resolve) => client.once('drain', resolve));
    }
    await finished;
    const wallMs = performance.now() - w0;
    const virtualMs = clock ? clock.now() - v0 : wallMs;
    client.destroy();
    server.close();
    const proto = (await A.stats()).stages.proto ?? {};
    const counters: Record<string, number> = {};
    for (const k of SHOWN) counters[k] = proto[k] ?? Number.NaN;
    counters.tcpDsackOut = (await B.stats()).stages.proto?.tcpDsackOut ?? Number.NaN;
    return { loss, reorder, mbps: (total * 8) / virtualMs / 1e3, wallMs, counters };
  } finally {
    await Promise.all(stacks.map((s) => s.close()));
  }
}

const rows: Row[] = [];
for (const [i, c] of CASES.entries()) rows.push(await oneCase(c.loss, c.reorder, 1000 + i));

console.log(`${MEGABYTES} MiB one way, layout ${LAYOUT} (${VIRTUAL ? 'virtual' : 'real'} clock), ${DELAY_MS} ms each way, ${RATE_BPS ? `${RATE_BPS / 1e6} Mbit/s` : 'no rate limit'}, ` +
  `${BUFFER >> 10} KiB socket buffers, ${DUPLICATE * 100} % duplication, load ${os.loadavg()[0].toFixed(2)}`);
console.log(['loss', 'reorder', `goodput (${VIRTUAL ? 'virtual' : 'wall'})`, 'wall ms', ...SHOWN.map((k) => k.slice(3)), 'DsackOut(B)'].join('\t'));
for (const r of rows) {
  console.log([`${r.loss * 100} %`, `${r.reorder * 100} %`, `${r.mbps.toFixed(1)} Mbit/s`, r.wallMs.toFixed(0),
    ...SHOWN.map((k) => String(r.counters[k])), String(r.counters.tcpDsackOut)].join('\t'));
}
