// Frame ring throughput between two worker threads, next to postMessage, measured in one run.
// Run: npx tsx bench/ring.ts   (or npm run bench:ring). Figures go to docs/PERFORMANCE.md with the date.
import os from 'node:os';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { spawnWorker } from '../src/main/spawn-worker.js';
import { loadNative } from '../src/link/index.js';
import { DoorbellTable, FrameRing, copyBytes, installBulkCopy } from '../src/shared-ring/index.js';
import type { RingBenchData, RingBenchMode, RingBenchReport } from './ring-worker.js';

// RING_BENCH_SIZES=1500 and RING_BENCH_MODES=ring-wait,post-clone narrow a run; RING_BENCH_MS sets its length.
const SIZES = (process.env.RING_BENCH_SIZES ?? '64,1500,9000').split(',').map(Number);
const ALL_MODES: { mode: RingBenchMode; label: string }[] = [
  { mode: 'ring-wait', label: 'frame ring, waiting consumer, publish/release per 32' },
  { mode: 'ring-spin', label: 'frame ring, spinning consumer, publish/release per 32' },
  { mode: 'post-transfer', label: 'postMessage, transferred ArrayBuffer' },
  { mode: 'post-clone', label: 'postMessage, structured clone of a Uint8Array' },
];
// RING_BENCH_MODES=none runs only the copy table.
const MODES = ALL_MODES.filter(({ mode }) => (process.env.RING_BENCH_MODES ?? mode).split(',').includes(mode));
const DURATION_MS = Number(process.env.RING_BENCH_MS ?? 1200);
const WARMUP_MS = 300;
const RING_BYTES = 1 << 20;

interface Row {
  mode: RingBenchMode;
  label: string;
  frameBytes: number;
  recordsPerSecond: number;
  gigabytesPerSecond: number;
  cores: number;
  sleeps: number;
}

async function measure(mode: RingBenchMode, frameBytes: number): Promise<Row> {
  const doorbells = DoorbellTable.create(8).buffer;
  const ring = FrameRing.create(RING_BYTES).buffer as SharedArrayBuffer;
  const credits = new SharedArrayBuffer(4);
  const channel = new MessageChannel();
  const common = { mode, frameBytes, durationMs: DURATION_MS, warmupMs: WARMUP_MS, batch: 32, doorbells, ring, credits };
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  const start = (side: 'producer' | 'consumer', port: MessagePort | undefined) => {
    const workerData: RingBenchData = { ...common, side, ...(port ? { port } : {}) };
    const worker = spawnWorker(new URL('./ring-worker.ts', import.meta.url), {
      workerData,
      transferList: port ? [port] : [],
    });
    const report = new Promise<RingBenchReport | null>((resolve, reject) => {
      worker.once('message', (message: { report: RingBenchReport | null }) => resolve(message.report));
      worker.once('error', reject);
    });
    return { worker, report };
  };
  const usesPort = mode.startsWith('post');
  const consumer = start('consumer', usesPort ? channel.port2 : undefined);
  const producer = start('producer', usesPort ? channel.port1 : undefined);
  try {
    const [report] = await Promise.all([consumer.report, producer.report]);
    const cpu = process.cpuUsage(cpuBefore);
    const wall = (performance.now() - wallBefore) * 1000;
    const r = report!;
    const recordsPerSecond = r.records / r.seconds;
    return {
      mode,
      label: ALL_MODES.find((m) => m.mode === mode)!.label,
      frameBytes,
      recordsPerSecond,
      gigabytesPerSecond: (recordsPerSecond * frameBytes) / 1e9,
      cores: (cpu.user + cpu.system) / wall,
      sleeps: r.sleeps,
    };
  } finally {
    await Promise.all([consumer.worker.terminate(), producer.worker.terminate()]);
  }
}

/**
 * Single-thread copy costs behind src/shared-ring/copy.ts's strategy (ns per copy), for the three directions the
 * stack copies in: into a ring (app write, frame in), out of one (app read), and ring to ring (payload into a socket
 * ring). "native" is the addon's memmove (installNativeCopy), when it loads; copyBytes is the JavaScript fallback.
 * The data is cache-hot here: on a transfer the source was just written by another core, which costs more for all.
 */
function measureCopies(): string[] {
  const native = loadNative();
  const lines = [
    '| direction | bytes | set, same mod 8 | set, differ mod 8 | copyBytes (JS), differ mod 8 | native memmove, differ mod 8 |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  const time = (fn: () => void, n: number): number => {
    for (let i = 0; i < n / 4; i++) fn();
    const t0 = performance.now();
    for (let i = 0; i < n; i++) fn();
    return ((performance.now() - t0) * 1e6) / n;
  };
  const plainArray = (): Uint8Array => new Uint8Array(1 << 17).map((_, i) => i);
  const sharedArray = (): Uint8Array => new Uint8Array(new SharedArrayBuffer(1 << 17));
  const directions: [string, Uint8Array, Uint8Array][] = [
    ['plain → shared', sharedArray(), plainArray()],
    ['shared → plain', plainArray(), sharedArray()],
    ['shared → shared', sharedArray(), sharedArray()],
  ];
  for (const [direction, dst, src] of directions) {
    for (const len of [64, 1500, 9000, 65536]) {
      const n = len < 1000 ? 400_000 : len < 10_000 ? 100_000 : 20_000;
      const aligned = time(() => dst.set(src.subarray(2, 2 + len), 258), n);
      const misaligned = time(() => dst.set(src.subarray(3, 3 + len), 258), n);
      installBulkCopy(undefined);
      const strategy = time(() => copyBytes(dst, 258, src, 3, len), n);
      const memmove = native ? time(() => native.copyBytes(dst, 258, src, 3, len), n).toFixed(0) : 'addon not loaded';
      lines.push(`| ${direction} | ${len} | ${aligned.toFixed(0)} | ${misaligned.toFixed(0)} | ${strategy.toFixed(0)} | ${memmove} |`);
    }
  }
  return lines;
}

const rows: Row[] = [];
for (const frameBytes of SIZES) {
  for (const { mode } of MODES) {
    const row = await measure(mode, frameBytes);
    rows.push(row);
    process.stderr.write(`${mode} ${frameBytes} B: ${(row.recordsPerSecond / 1e6).toFixed(2)} M/s\n`);
  }
}

const out: string[] = [];
out.push(`ring bench — ${new Date().toISOString().slice(0, 10)}, node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load average ${os.loadavg()[0].toFixed(2)}`);
out.push(`${DURATION_MS} ms per row after ${WARMUP_MS} ms warm-up, 1 MiB frame ring, producer copies each frame in (push), consumer touches it`);
out.push('');
out.push('| mode | frame | records/s | GB/s | process CPU (cores) | consumer sleeps |');
out.push('|---|---:|---:|---:|---:|---:|');
for (const row of rows) {
  out.push(
    `| ${row.label} | ${row.frameBytes} B | ${(row.recordsPerSecond / 1e6).toFixed(2)} M | ${row.gigabytesPerSecond.toFixed(2)} | ${row.cores.toFixed(2)} | ${row.sleeps} |`,
  );
}
out.push('');
out.push('| frame | waiting ring ÷ postMessage (transfer) | waiting ring ÷ postMessage (clone) | spinning ÷ waiting |');
out.push('|---:|---:|---:|---:|');
for (const frameBytes of SIZES) {
  const rate = (mode: RingBenchMode) => rows.find((r) => r.mode === mode && r.frameBytes === frameBytes)?.recordsPerSecond ?? NaN;
  out.push(
    `| ${frameBytes} B | ${(rate('ring-wait') / rate('post-transfer')).toFixed(1)}× | ${(rate('ring-wait') / rate('post-clone')).toFixed(1)}× | ${(rate('ring-spin') / rate('ring-wait')).toFixed(2)}× |`,
  );
}
out.push('');
out.push('copies, one thread (ns per copy):');
out.push('');
out.push(...measureCopies());
console.log(out.join('\n'));
