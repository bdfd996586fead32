// TCP over two stacks on the memory wire, next to Node's net over the kernel's loopback, in the same run:
// one stream's throughput at MTU 1500, 9000 and 65535, connections per second, and 64-byte ping-pong RTT.
// Run: npx tsx bench/tcp.ts     (TCP_BENCH_LAYOUT=single|rx+proto|three, TCP_BENCH_MB=512, TCP_BENCH_WARMUP_MB=256
//      (sent first on the same connection, not timed), TCP_BENCH_CONNS=3000, TCP_BENCH_CONNS_WARMUP=3000 (untimed
//      connections first, on the same stacks; default TCP_BENCH_CONNS),
//      TCP_BENCH_BIG_BUFFER=4194304: socketBufferBytes of the extra MTU 65535 row; the kernel's loopback autotunes
//      its buffers up to tcp_rmem/tcp_wmem max, 6 MiB / 4 MiB by default; TCP_BENCH_TSO=on,off: the stream rows with
//      the wire's TSO on and off (link spec `tso: false`), A/B in one run; TCP_BENCH_ROWS=streams,big,conns,rtt:
//      which rows to run, all by default (e.g. TCP_BENCH_ROWS=conns for connections/s alone);
//      TCP_BENCH_ONLY_STREAMS=1 is TCP_BENCH_ROWS=streams)
// Figures go to docs/PERFORMANCE.md ("TCP") with the date and the load average.
import net from 'node:net';
import os from 'node:os';
import { createMemoryWire, createStack, type Stack, type StackLayout } from '../src/main/index.js';

const LAYOUT = (process.env.TCP_BENCH_LAYOUT ?? 'single') as StackLayout;
const MEGABYTES = Number(process.env.TCP_BENCH_MB ?? 512);
const WARMUP_MB = Number(process.env.TCP_BENCH_WARMUP_MB ?? 256);
const CONNECTIONS = Number(process.env.TCP_BENCH_CONNS ?? 3000);
const CONNECTIONS_WARMUP = Number(process.env.TCP_BENCH_CONNS_WARMUP ?? CONNECTIONS);
const PINGS = Number(process.env.TCP_BENCH_PINGS ?? 5000);
const BIG_BUFFER = Number(process.env.TCP_BENCH_BIG_BUFFER ?? 4 << 20);
const TSO = (process.env.TCP_BENCH_TSO ?? 'on').split(',').map((v) => v === 'on');
const ROWS = new Set((process.env.TCP_BENCH_ROWS ?? (process.env.TCP_BENCH_ONLY_STREAMS === '1' ? 'streams' : 'streams,big,conns,rtt')).split(','));

/** What both sides of the comparison offer: a server and a client connect. */
interface Net {
  listen(port: number, onConnection: (s: net.Socket) => void): Promise<{ close(): void }>;
  connect(port: number): net.Socket;
}

const kernel: Net = {
  listen: (port, onConnection) => new Promise((resolve) => {
    const server = net.createServer(onConnection);
    server.listen(port, '127.0.0.1', () => resolve(server));
  }),
  connect: (port) => net.connect({ host: '127.0.0.1', port }),
};

function ours(server: Stack, client: Stack): Net {
  return {
    listen: (port, onConnection) => new Promise((resolve) => {
      const s = server.createServer((socket) => onConnection(socket as unknown as net.Socket));
      s.listen(port, () => resolve(s));
    }),
    connect: (port) => client.connect({ host: '198.18.1.2', port }) as unknown as net.Socket,
  };
}

/**
 * Bytes/s of one stream: the client writes WARMUP_MB and then MEGABYTES without a pause, the server counts them;
 * the clock runs from the receiver's first byte past the warm-up to its last. The warm-up lets V8 compile the hot
 * paths of each new stack's stage workers (a fresh isolate per worker: over a 256 MiB run without it, TurboFan
 * kept the platform threads ~65 % busy) and the window open, so both sides are measured in their steady state.
 */
async function throughput(n: Net, port: number): Promise<number> {
  const warmup = WARMUP_MB * 2 ** 20;
  const total = warmup + MEGABYTES * 2 ** 20;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let received = 0;
  let t0 = WARMUP_MB === 0 ? performance.now() : 0;
  const server = await n.listen(port, (s) => {
    s.on('data', (d: Buffer) => {
      received += d.length;
      if (t0 === 0 && received >= warmup) t0 = performance.now();
      if (received >= total) done();
    });
  });
  const chunk = Buffer.alloc(1 << 20, 7);
  const c = n.connect(port);
  await new Promise((r) => c.once('connect', r));
  for (let sent = 0; sent < total; sent += chunk.length) {
    if (!c.write(chunk)) await new Promise((r) => c.once('drain', r));
  }
  await finished;
  const seconds = (performance.now() - t0) / 1000;
  c.destroy();
  server.close();
  return (total - warmup) / seconds;
}

/** `count` connections: connect, one byte each way, close; 64 at a time. */
function connectionRun(n: Net, port: number, count: number): Promise<void> {
  let started = 0;
  let finished = 0;
  return new Promise<void>((resolve, reject) => {
    const one = (): void => {
      started++;
      const c = n.connect(port);
      c.on('error', reject);
      c.on('data', () => undefined);
      c.on('close', () => {
        finished++;
        if (started < count) one();
        else if (finished === count) resolve();
      });
      c.end('x');
    };
    for (let i = 0; i < Math.min(64, count); i++) one();
  });
}

/**
 * Connections per second, after CONNECTIONS_WARMUP untimed ones (compiled code, socket slots in place). After a
 * sixth as many, the timed run still cost ~2-3x the CPU per connection of the runs after it (TurboFan compiling the
 * stack's code on V8's platform threads: docs/PERFORMANCE.md, "Connections per second").
 */
async function connectionsPerSecond(n: Net, port: number): Promise<number> {
  const server = await n.listen(port, (s) => {
    s.on('data', (d: Buffer) => s.end(d));
    s.on('error', () => undefined);
  });
  if (CONNECTIONS_WARMUP > 0) await connectionRun(n, port, CONNECTIONS_WARMUP);
  const t0 = performance.now();
  await connectionRun(n, port, CONNECTIONS);
  const seconds = (performance.now() - t0) / 1000;
  server.close();
  return CONNECTIONS / seconds;
}

/** 64-byte request/response round trips over one connection (TCP_NODELAY), as p50 and p99 in µs. */
async function pingPong(n: Net, port: number): Promise<{ p50: number; p99: number }> {
  const server = await n.listen(port, (s) => {
    s.setNoDelay(true);
    s.on('data', (d: Buffer) => s.write(d));
  });
  const c = n.connect(port);
  c.setNoDelay(true);
  await new Promise((r) => c.once('connect', r));
  const msg = Buffer.alloc(64, 1);
  const samples: number[] = [];
  for (let i = 0; i < PINGS; i++) {
    const t0 = performance.now();
    let got = 0;
    await new Promise<void>((resolve) => {
      const onData = (d: Buffer): void => {
        got += d.length;
        if (got >= 64) {
          c.off('data', onData);
          resolve();
        }
      };
      c.on('data', onData);
      c.write(msg);
    });
    if (i >= 100) samples.push((performance.now() - t0) * 1000);
  }
  c.destroy();
  server.close();
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(samples.length / 2)], p99: samples[Math.floor(samples.length * 0.99)] };
}

async function withPair<T>(mtu: number, fn: (n: Net) => Promise<T>, socketBufferBytes?: number, tso = true): Promise<T> {
  const [a, b] = createMemoryWire({ mtu });
  const client = await createStack({ link: tso ? a : { ...a, tso: false }, address: '198.18.1.1/24', layout: LAYOUT, socketBufferBytes });
  const server = await createStack({ link: tso ? b : { ...b, tso: false }, address: '198.18.1.2/24', layout: LAYOUT, socketBufferBytes });
  try {
    await client.ping('198.18.1.2', { count: 1 });
    return await fn(ours(server, client));
  } finally {
    await client.close();
    await server.close();
  }
}

const gbit = (bytesPerSecond: number): string => ((bytesPerSecond * 8) / 1e9).toFixed(2);
const rows: string[][] = [];
let port = 20000;

const kernelThroughput = ROWS.has('streams') || ROWS.has('big') ? await throughput(kernel, port++) : 0;
for (const mtu of ROWS.has('streams') ? [1500, 9000, 65535] : []) {
  // At MTU 65535 a segment is already 64 KiB: TSO has nothing to add there.
  for (const tso of mtu === 65535 ? [true] : TSO) {
    const bps = await withPair(mtu, (n) => throughput(n, port++), undefined, tso);
    const label = mtu === 65535 || TSO.length === 1 && tso ? '' : `, TSO ${tso ? 'on' : 'off'}`;
    rows.push([`one stream, MTU ${mtu}${label}`, `${gbit(bps)} Gbit/s`, `${gbit(kernelThroughput)} Gbit/s`, (bps / kernelThroughput).toFixed(2)]);
  }
}
if (ROWS.has('big')) {
  const bps = await withPair(65535, (n) => throughput(n, port++), BIG_BUFFER);
  rows.push([`one stream, MTU 65535, ${BIG_BUFFER >> 20} MiB socket buffers`, `${gbit(bps)} Gbit/s`, `${gbit(kernelThroughput)} Gbit/s`, (bps / kernelThroughput).toFixed(2)]);
}
if (ROWS.has('conns')) {
  const kernelCps = await connectionsPerSecond(kernel, port++);
  const ourCps = await withPair(1500, (n) => connectionsPerSecond(n, port++));
  rows.push(['connections/s', ourCps.toFixed(0), kernelCps.toFixed(0), (ourCps / kernelCps).toFixed(2)]);
}
if (ROWS.has('rtt')) {
  const kernelRtt = await pingPong(kernel, port++);
  const ourRtt = await withPair(1500, (n) => pingPong(n, port++));
  rows.push(['64 B ping-pong RTT p50', `${ourRtt.p50.toFixed(1)} µs`, `${kernelRtt.p50.toFixed(1)} µs`, (ourRtt.p50 / kernelRtt.p50).toFixed(2)]);
  rows.push(['64 B ping-pong RTT p99', `${ourRtt.p99.toFixed(1)} µs`, `${kernelRtt.p99.toFixed(1)} µs`, (ourRtt.p99 / kernelRtt.p99).toFixed(2)]);
}

console.log(`TCP, layout ${LAYOUT}, ${MEGABYTES} MiB per stream, ${new Date().toISOString()}, load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log('| measure | ringstack (memory wire) | Node net (kernel loopback) | ratio |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.join(' | ')} |`);
