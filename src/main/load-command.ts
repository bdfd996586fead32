// `ringstack load`: N concurrent FTP clients in a pool of application threads (piscina) sharing one stack, fetching
// one file from a server — ours on the memory wire (--memory), vsftpd or `ringstack serve` on a link — for a bounded
// time and count. Prints fetches/s, Gbit/s, latency percentiles and errors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { FtpServer, parseFtpUrl } from '../ftp/index.js';
import { shareStack } from './app-thread.js';
import type { CliCommand } from './cli.js';
import { EXIT, UsageError } from './cli-common.js';
import { stackFromOptions, stackOptions } from './cli-stack.js';
import { ringstackTransport } from './ftp-transport.js';
import type { LoadResult, LoadTask } from './load-worker.js';
import { createMemoryWire } from './memory-wire.js';
import { moduleUrl, workerExecArgv } from './spawn-worker.js';
import { createStack, type Stack } from './stack.js';

type OptionValues = Record<string, string | boolean | undefined>;

function integer(values: OptionValues, name: string, fallback: number, min: number, max: number): number {
  const text = values[name];
  if (text === undefined) return fallback;
  const n = Number(text);
  if (typeof text !== 'string' || !Number.isInteger(n) || n < min || n > max) throw new UsageError(`--${name} must be an integer from ${min} to ${max}`);
  return n;
}

export interface LoadSummary {
  readonly clients: number;
  readonly threads: number;
  readonly transport: 'ringstack' | 'kernel';
  readonly seconds: number;
  readonly fetches: number;
  readonly fetchesPerSecond: number;
  readonly bytes: number;
  readonly gbitPerSecond: number;
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly errors: number;
  readonly firstErrors: readonly string[];
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

/** Spreads `total` over `parts` as evenly as whole numbers allow. */
function shares(total: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(total / parts) + (i < total % parts ? 1 : 0));
}

export const loadCommand: CliCommand = {
  summary: 'many concurrent FTP clients on a shared stack: fetches/s, Gbit/s, latency',
  usage: 'load [URL] [--memory [--file-kib N]] [--clients N] [--threads T] [--duration S] [--count K] [--kernel] [--link L --ip A/N] [--json]',
  options: {
    ...stackOptions,
    memory: { type: 'boolean', description: 'serve from our FtpServer on a second stack over the in-memory wire (no URL, no root)' },
    'file-kib': { type: 'string', description: 'size of the file --memory serves, KiB (default 1024)' },
    clients: { type: 'string', description: 'concurrent clients (default 8)' },
    threads: { type: 'string', description: 'application threads in the pool (default 2)' },
    duration: { type: 'string', description: 'stop after this many seconds (default 10)' },
    count: { type: 'string', description: 'stop after this many fetches in all (default 1000)' },
    kernel: { type: 'boolean', description: 'clients use the kernel TCP/IP (node:net)' },
    timeout: { type: 'string', description: 'seconds for each connect, reply and data-idle wait (default 30)' },
  },
  positionals: { min: 0, max: 1 },
  async run({ values, positionals, io }) {
    const clients = integer(values, 'clients', 8, 1, 1024);
    const threads = integer(values, 'threads', 2, 1, 64);
    const duration = integer(values, 'duration', 10, 1, 86_400);
    const count = integer(values, 'count', 1000, 1, 1e9);
    const fileKib = integer(values, 'file-kib', 1024, 0, 1 << 20);
    const timeoutMs = integer(values, 'timeout', 30, 1, 3600) * 1000;
    const memory = values['memory'] === true;
    const kernel = values['kernel'] === true;
    if (memory === (positionals.length === 1)) throw new UsageError('give a URL, or --memory for the in-process server');
    if (memory && kernel) throw new UsageError('--memory runs on our stacks; --kernel needs a URL');

    const cleanup: Array<() => Promise<void> | void> = [];
    try {
      let url = positionals[0];
      let clientStack: Stack | null = null;
      if (memory) {
        const dir = mkdtempSync(join(tmpdir(), 'ringstack-load-'));
        cleanup.push(() => rmSync(dir, { recursive: true, force: true }));
        const data = Buffer.alloc(fileKib * 1024);
        for (let i = 0; i < data.length; i++) data[i] = (i * 31) & 0xff;
        writeFileSync(join(dir, 'load.bin'), data);
        const [serverEnd, clientEnd] = createMemoryWire({ mtu: 9000 });
        const serverStack = await createStack({ link: serverEnd, address: '198.18.9.1/24' });
        cleanup.push(() => serverStack.close());
        clientStack = await createStack({ link: clientEnd, address: '198.18.9.2/24' });
        const server = new FtpServer({ transport: ringstackTransport(serverStack), root: dir, limits: { maxSessionsPerAddress: clients + 8, maxSessions: clients + 8 } });
        await server.listen({ host: '198.18.9.1', port: 21 });
        cleanup.push(() => server.close());
        url = 'ftp://198.18.9.1/load.bin';
      } else if (!kernel) {
        clientStack = await stackFromOptions(values, io);
      }
      if (clientStack) {
        const s = clientStack;
        cleanup.push(() => s.close());
      }
      const target = parseFtpUrl(url!);
      if (target.isDirectory) throw new UsageError('load fetches a file: the URL names a directory');
      const shared = clientStack ? await shareStack(clientStack, threads) : null;
      if (shared) cleanup.push(() => shared.close());
      const pool = new Piscina({
        filename: moduleUrl('./load-worker', import.meta.url).href,
        execArgv: workerExecArgv(),
        minThreads: threads,
        maxThreads: threads,
        concurrentTasksPerWorker: Math.ceil(clients / threads),
      });
      pool.on('error', (err: unknown) => io.stderr.write(`ringstack load: a pool thread failed: ${String(err)}\n`));
      cleanup.push(() => pool.destroy());

      const started = Date.now();
      const tasks = shares(count, clients).map((share) => pool.run({
        handle: shared?.handle ?? null, host: target.host, port: target.port, user: target.user ?? 'anonymous',
        password: target.password ?? 'ringstack@', path: target.path, count: share, deadline: started + duration * 1000, timeoutMs,
      } satisfies LoadTask) as Promise<LoadResult>);
      const results = await Promise.all(tasks);
      const seconds = (Date.now() - started) / 1000;
      const latencies = results.flatMap((r) => r.latencies).sort((a, b) => a - b);
      const errors = results.flatMap((r) => r.errors);
      const bytes = results.reduce((sum, r) => sum + r.bytes, 0);
      const summary: LoadSummary = {
        clients, threads, transport: kernel ? 'kernel' : 'ringstack', seconds, fetches: latencies.length,
        fetchesPerSecond: latencies.length / seconds, bytes, gbitPerSecond: (bytes * 8) / seconds / 1e9,
        latencyMs: { p50: percentile(latencies, 0.5), p90: percentile(latencies, 0.9), p99: percentile(latencies, 0.99), max: latencies.at(-1) ?? 0 },
        errors: errors.length, firstErrors: [...new Set(errors)].slice(0, 5),
      };
      if (values['json'] === true) {
        io.stdout.write(`${JSON.stringify(summary)}\n`);
      } else {
        const l = summary.latencyMs;
        io.stdout.write(
          `${summary.fetches} fetches by ${clients} clients on ${threads} threads (${summary.transport}) in ${seconds.toFixed(2)} s\n` +
          `  ${summary.fetchesPerSecond.toFixed(1)} fetches/s, ${summary.gbitPerSecond.toFixed(3)} Gbit/s\n` +
          `  latency ms: p50 ${l.p50.toFixed(2)}  p90 ${l.p90.toFixed(2)}  p99 ${l.p99.toFixed(2)}  max ${l.max.toFixed(2)}\n` +
          `  errors: ${summary.errors}${summary.firstErrors.map((e) => `\n    ${e}`).join('')}\n`,
        );
      }
      return summary.errors === 0 && summary.fetches > 0 ? EXIT.ok : EXIT.failure;
    } finally {
      for (const step of cleanup.reverse()) await step();
    }
  },
};
