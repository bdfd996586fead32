// Two whole stacks over the memory wire, per layout and spin setting: UDP echo datagrams/s with a window, ping RTT
// percentiles, and UDP one-way throughput. The figures choose DEFAULT_LAYOUT (src/main/stack.ts).
// Run: npx tsx bench/stack.ts
//   STACK_BENCH_LAYOUTS=single,three  STACK_BENCH_SPINS=0,20,50  STACK_BENCH_MS=1500  narrow or lengthen a run.
// Figures go to docs/PERFORMANCE.md ("Stack layouts") with the date and the load average.
import os from 'node:os';
import { createMemoryWire, createStack, type Stack, type StackLayout, type UdpSocket } from '../src/main/index.js';

const ALL_LAYOUTS: StackLayout[] = ['three', 'rx+proto', 'single', 'inline'];
const LAYOUTS = (process.env.STACK_BENCH_LAYOUTS?.split(',') as StackLayout[] | undefined) ?? ALL_LAYOUTS;
const SPINS = (process.env.STACK_BENCH_SPINS ?? '0,20,50').split(',').map(Number);
const DURATION_MS = Number(process.env.STACK_BENCH_MS ?? 1500);
const WARMUP_MS = 200;
const ECHO_WINDOW = 64;
const PINGS = Number(process.env.STACK_BENCH_PINGS ?? 300);
const ECHO_PORT = 7;
const SINK_PORT = 9;

interface Pair {
  a: Stack;
  b: Stack;
  close(): Promise<void>;
}

async function pair(layout: StackLayout, spinMicros: number, mtu: number): Promise<Pair> {
  const [endA, endB] = createMemoryWire({ mtu });
  // Inline runs on the real clock here: a virtual clock would make every figure meaningless.
  const common = { layout, spinMicros, ...(layout === 'inline' ? { clock: 'real' as const } : {}) };
  const a = await createStack({ link: endA, address: '198.18.1.1/24', mtu, ...common });
  const b = await createStack({ link: endB, address: '198.18.1.2/24', mtu, ...common });
  // Resolve ARP both ways before anything is timed.
  await a.ping('198.18.1.2', { count: 1 });
  await b.ping('198.18.1.1', { count: 1 });
  return { a, b, close: async () => { await a.close(); await b.close(); } };
}

function listening(socket: UdpSocket): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    socket.once('listening', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Measures `work` for DURATION_MS after WARMUP_MS; `count()` is its running total. Returns units/s and cores used. */
async function timed(count: () => number, stop: () => void): Promise<{ perSecond: number; cores: number }> {
  await new Promise((r) => setTimeout(r, WARMUP_MS));
  const startCount = count();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const n = count() - startCount;
  stop();
  return { perSecond: n / seconds, cores: (used.user + used.system) / 1e6 / seconds };
}

/** UDP echo: the client keeps ECHO_WINDOW datagrams unanswered; each reply sends the next. Replies/s. */
async function echoRate(p: Pair, size: number): Promise<{ perSecond: number; cores: number }> {
  const server = await listening(p.b.udp.bind(ECHO_PORT));
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  const client = await listening(p.a.udp.bind(0));
  const payload = Buffer.alloc(size, 0x5a);
  let replies = 0;
  let running = true;
  client.on('message', () => {
    replies++;
    if (running) client.send(payload, ECHO_PORT, '198.18.1.2');
  });
  for (let i = 0; i < ECHO_WINDOW; i++) client.send(payload, ECHO_PORT, '198.18.1.2');
  const result = await timed(() => replies, () => { running = false; });
  await new Promise((r) => setTimeout(r, 50));
  client.close();
  server.close();
  return result;
}

/**
 * UDP one way, A → B: A keeps at most 2 MiB sent and not yet seen by B's socket (both sockets are in this process,
 * so B's count is the feedback). A datagram lost on the way would stall the window: a stall of 100 ms writes the
 * missing ones off ("written off": lost, or only late); "counted drops" are those a stack dropped and counted.
 */
async function oneWay(p: Pair, size: number): Promise<{ gbps: number; cores: number; lost: number; dropped: number }> {
  const dropsBefore = await countedDrops(p);
  const sink = await listening(p.b.udp.bind(SINK_PORT));
  const sender = await listening(p.a.udp.bind(0));
  const payload = Buffer.alloc(size, 0xa5);
  const window = Math.max(64, Math.floor((2 << 20) / size));
  let sent = 0, received = 0, writtenOff = 0, running = true, lastProgress = performance.now();
  sink.on('message', () => {
    received++;
    lastProgress = performance.now();
  });
  const fill = (): void => {
    if (!running) return;
    if (performance.now() - lastProgress > 100 && sent - received - writtenOff > 0) {
      writtenOff = sent - received;
      lastProgress = performance.now();
    }
    // Bursts of at most a window, then back to the event loop so the event pump delivers to the sink.
    for (let burst = 0; burst < window && sent - received - writtenOff < window; burst++, sent++) {
      sender.send(payload, SINK_PORT, '198.18.1.2');
    }
    setImmediate(fill);
  };
  fill();
  const r = await timed(() => received, () => { running = false; });
  await new Promise((res) => setTimeout(res, 50));
  sink.close();
  sender.close();
  const dropped = (await countedDrops(p)) - dropsBefore;
  return { gbps: (r.perSecond * size * 8) / 1e9, cores: r.cores, lost: writtenOff, dropped };
}

/** Datagrams the stacks dropped and counted: the sink's full event ring, the sender's full transmit ring. */
async function countedDrops(p: Pair): Promise<number> {
  const [a, b] = [await p.a.stats(), await p.b.stats()];
  return (b.stages.proto?.udpReceiveBufferErrors ?? 0) + (a.stages.proto?.txRingFull ?? 0);
}

function percentile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function pingRtt(p: Pair): Promise<{ p50: number; p99: number }> {
  const rtts = (await p.a.ping('198.18.1.2', { count: PINGS, intervalMs: 0, timeoutMs: 1000 })).sort((x, y) => x - y);
  return { p50: percentile(rtts, 0.5) * 1000, p99: percentile(rtts, 0.99) * 1000 };
}

interface Row {
  layout: string;
  spin: string;
  echo64: number;
  echo1472: number;
  echoCores: number;
  p50: number;
  p99: number;
  gbps1472: number;
  gbps8972: number;
  oneWayCores: number;
  lost: number;
  dropped: number;
}

async function measure(layout: StackLayout, spin: number): Promise<Row> {
  const small = await pair(layout, spin, 1500);
  let row: Row;
  try {
    const e64 = await echoRate(small, 64);
    const e1472 = await echoRate(small, 1472);
    const ping = await pingRtt(small);
    const t1472 = await oneWay(small, 1472);
    row = {
      layout, spin: layout === 'inline' ? '—' : String(spin),
      echo64: e64.perSecond, echo1472: e1472.perSecond, echoCores: (e64.cores + e1472.cores) / 2,
      p50: ping.p50, p99: ping.p99, gbps1472: t1472.gbps, gbps8972: 0, oneWayCores: t1472.cores, lost: t1472.lost, dropped: t1472.dropped,
    };
  } finally {
    await small.close();
  }
  const jumbo = await pair(layout, spin, 9000);
  try {
    const t8972 = await oneWay(jumbo, 8972);
    row.gbps8972 = t8972.gbps;
    row.oneWayCores = (row.oneWayCores + t8972.cores) / 2;
    row.lost += t8972.lost;
    row.dropped += t8972.dropped;
  } finally {
    await jumbo.close();
  }
  return row;
}

const k = (n: number): string => `${(n / 1000).toFixed(1)} k`;

async function main(): Promise<void> {
  console.log(`stack layouts over the memory wire: Node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), ` +
    `load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}, ${DURATION_MS} ms per figure, echo window ${ECHO_WINDOW}, ${PINGS} pings`);
  const rows: Row[] = [];
  for (const layout of LAYOUTS) {
    for (const spin of layout === 'inline' ? [0] : SPINS) {
      const row = await measure(layout, spin);
      rows.push(row);
      console.error(`  done: ${layout} spin ${row.spin}`);
    }
  }
  console.log('');
  console.log('| layout | spin µs | UDP echo 64 B /s | UDP echo 1472 B /s | cores (echo) | ping p50 µs | ping p99 µs | one-way 1472 B Gbit/s | one-way 8972 B Gbit/s (MTU 9000) | cores (one-way) | written off | counted drops |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.layout} | ${r.spin} | ${k(r.echo64)} | ${k(r.echo1472)} | ${r.echoCores.toFixed(2)} | ${r.p50.toFixed(0)} | ${r.p99.toFixed(0)} | ` +
      `${r.gbps1472.toFixed(2)} | ${r.gbps8972.toFixed(2)} | ${r.oneWayCores.toFixed(2)} | ${r.lost} | ${r.dropped} |`);
  }
  console.log(`\nload after: ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

await main();
