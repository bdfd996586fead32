// The FTP client's speed against vsftpd on the test bed (docs/TESTBED.md), every client in the bed's kernel-client
// namespace over the same veth, downloading the same file to /dev/null in the same run:
//   ringstack get --kernel (1 and 4 segments), basic-ftp (Client.downloadTo), curl, lftp `pget -n 4`,
//   and `ringstack get` on our own stack (packet link in the stack namespace) when FTP_BENCH_STACK=1;
// then small files: COUNT RETRs of 1KiB over one control connection — our FtpClient in a fresh process (JIT cold)
// and after WARMUP untimed fetches, the same fetches as bare node:net calls (the floor of any Node client), and
// curl given COUNT URLs. Runs are interleaved (each round runs every client once) so load from other work hits them
// alike.
//
// Run as root: npx tsx bench/ftp.ts
//   FTP_BENCH_RUNS=3 rounds · FTP_BENCH_FILE=1GiB (or 100MiB) · FTP_BENCH_SMALL=300 fetches · FTP_BENCH_STACK=0|1
//   FTP_BENCH_WARMUP=1500 untimed fetches before the warm runs · FTP_BENCH_ONLY=bulk|small (default both)
//   FTP_BENCH_LAYOUTS=single,inline: with FTP_BENCH_STACK=1, one `ringstack get --layout X` client per layout, all
//   in the same rounds (default: one client without --layout, i.e. the CLI's default layout)
//   FTP_BENCH_BED=ftpbench: the bed's name · FTP_BENCH_OFFLOADS=on|off: the bed's --offloads (both links alike)
// The bed (files all) is brought up first and taken down at the end, also on failure or Ctrl-C.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import {
  execCommand,
  execInNamespace,
  isRoot,
  testbedDown,
  testbedUp,
  type ExecResult,
  type Testbed,
} from '../test/helpers/testbed.js';

const RUNS = Number(process.env.FTP_BENCH_RUNS ?? 3);
const FILE = process.env.FTP_BENCH_FILE ?? '1GiB';
const SMALL_COUNT = Number(process.env.FTP_BENCH_SMALL ?? 300);
const WITH_STACK = process.env.FTP_BENCH_STACK === '1';
const WARMUP = Number(process.env.FTP_BENCH_WARMUP ?? 1500);
const ONLY = process.env.FTP_BENCH_ONLY;
const STACK_LAYOUTS: (string | undefined)[] = process.env.FTP_BENCH_LAYOUTS ? process.env.FTP_BENCH_LAYOUTS.split(',') : [undefined];
const BED = process.env.FTP_BENCH_BED ?? 'ftpbench';
/** The bed's --offloads (both links alike): 'on' (default) or 'off'. */
const OFFLOADS = process.env.FTP_BENCH_OFFLOADS === 'off' ? 'off' : 'on';
const TIMEOUT_MS = 120_000;

const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const clientsPath = fileURLToPath(new URL('./ftp-clients.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const tscPath = fileURLToPath(new URL('../node_modules/.bin/tsc', import.meta.url));
/** Where the small-file loops are compiled to (dist/ is not tracked). */
const compiledDir = fileURLToPath(new URL('../dist/bench-ftp/', import.meta.url));
const tsx = import.meta.resolve('tsx');

interface Sample {
  /** Seconds as the client measured them: connect to done (lftp: the whole process). */
  seconds: number;
  /** Seconds of the whole process, start-up included. */
  wall: number;
}

interface BulkClient {
  name: string;
  run(bed: Testbed, url: string): Promise<Sample>;
}

/** Runs argv in the kclient namespace, timing the whole process. */
async function timed(ns: string, argv: readonly string[]): Promise<{ result: ExecResult; wall: number }> {
  const started = performance.now();
  const result = await execInNamespace(ns, argv, { timeoutMs: TIMEOUT_MS });
  return { result, wall: (performance.now() - started) / 1000 };
}

function json(result: ExecResult): Record<string, unknown> {
  const text = result.stdout.toString().trim();
  try {
    return JSON.parse(text.split('\n').pop() ?? '') as Record<string, unknown>;
  } catch {
    throw new Error(`not JSON: ${text.slice(0, 200)} (stderr: ${result.stderr.slice(0, 300)})`);
  }
}

function expectBytes(name: string, actual: unknown, size: number): void {
  if (actual !== size) throw new Error(`${name}: ${String(actual)} bytes, expected ${size}`);
}

function ringstackKernel(segments: number): BulkClient {
  return {
    name: `ringstack get --kernel${segments > 1 ? ` --segments ${segments}` : ''}`,
    async run(bed, url) {
      const argv = [process.execPath, '--import', tsx, cliPath, 'get', url, '-o', '/dev/null', '--kernel', '--json', '--segments', String(segments)];
      const { result, wall } = await timed(bed.namespaces.kclient, argv);
      const summary = json(result);
      expectBytes(this.name, summary['fetched'], fileSize(bed));
      return { seconds: Number(summary['seconds']), wall };
    },
  };
}

/** `ringstack get` on our stack over a packet link, in `layout` (undefined: the CLI's default). */
function ringstackStack(layout: string | undefined): BulkClient {
  return {
    name: `ringstack get (our stack, packet link${layout ? `, layout ${layout}` : ''})`,
    async run(bed, _url) {
      const url = `ftp://${bed.stackLink.peerIp}/${FILE}`;
      const argv = [process.execPath, '--import', tsx, cliPath, 'get', url, '-o', '/dev/null', '--json',
        '--link', `packet:${bed.stackLink.stackIf}`, '--ip', `${bed.stackLink.stackIp}/${bed.stackLink.prefixLength}`,
        ...(layout ? ['--layout', layout] : [])];
      const { result, wall } = await timed(bed.namespaces.stack, argv);
      const summary = json(result);
      expectBytes(this.name, summary['fetched'], fileSize(bed));
      return { seconds: Number(summary['seconds']), wall };
    },
  };
}
const stackClients = WITH_STACK ? STACK_LAYOUTS.map(ringstackStack) : [];

const basicFtp: BulkClient = {
  name: 'basic-ftp downloadTo',
  async run(bed, _url) {
    const argv = [process.execPath, '--import', tsx, clientsPath, 'basic-ftp', bed.kclientLink.peerIp, FILE, '/dev/null'];
    const { result, wall } = await timed(bed.namespaces.kclient, argv);
    const summary = json(result);
    expectBytes(this.name, summary['bytes'], fileSize(bed));
    return { seconds: Number(summary['seconds']), wall };
  },
};

const curl: BulkClient = {
  name: 'curl',
  async run(bed, url) {
    const { result, wall } = await timed(bed.namespaces.kclient, ['curl', '-sS', '-o', '/dev/null', '-w', '%{size_download} %{time_total}', url]);
    const [bytes, seconds] = result.stdout.toString().trim().split(' ').map(Number);
    expectBytes(this.name, bytes, fileSize(bed));
    return { seconds: seconds ?? NaN, wall };
  },
};

const lftp: BulkClient = {
  name: 'lftp pget -n 4',
  async run(bed, url) {
    // lftp has no timing of its own: its figure is the whole process (start-up is a few ms).
    const { wall } = await timed(bed.namespaces.kclient, ['lftp', '-c', `set xfer:clobber on; set cmd:fail-exit yes; pget -n 4 ${url} -o /dev/null`]);
    return { seconds: wall, wall };
  },
};

function fileSize(bed: Testbed): number {
  const file = bed.files.find((f) => f.name === FILE);
  if (file === undefined) throw new Error(`the bed has no file ${FILE}`);
  return file.size;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};
const mbps = (bytes: number, seconds: number): number => bytes / seconds / 1e6;

async function ensureLftp(): Promise<void> {
  const found = await execCommand(['sh', '-c', 'command -v lftp'], { timeoutMs: 5000, check: false });
  if (found.code === 0) return;
  console.log('installing lftp (apt-get)…');
  await execCommand(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', '-q', '-o', 'DPkg::Lock::Timeout=300', 'install', '-y', '--no-install-recommends', 'lftp'], { timeoutMs: 600_000 });
}

async function bulk(bed: Testbed): Promise<string[]> {
  const size = fileSize(bed);
  const url = `ftp://${bed.kclientLink.peerIp}/${FILE}`;
  const clients = [ringstackKernel(1), ringstackKernel(4), basicFtp, curl, lftp, ...stackClients];
  const samples = new Map<string, Sample[]>(clients.map((c) => [c.name, []]));
  const failures = new Map<string, string>();
  for (let round = 0; round < RUNS; round++) {
    // Rotate the order each round, so no client always runs right after the same one.
    for (let i = 0; i < clients.length; i++) {
      const client = clients[(i + round) % clients.length] as BulkClient;
      if (failures.has(client.name)) continue;
      try {
        const sample = await client.run(bed, url);
        samples.get(client.name)?.push(sample);
        console.log(`  round ${round + 1} ${client.name}: ${mbps(size, sample.seconds).toFixed(0)} MB/s (${sample.seconds.toFixed(3)} s; process ${sample.wall.toFixed(3)} s)`);
      } catch (error) {
        failures.set(client.name, (error as Error).message.split('\n')[0] ?? 'failed');
        console.log(`  round ${round + 1} ${client.name}: FAILED ${(error as Error).message}`);
      }
    }
  }
  const rate = (name: string): number => {
    const list = samples.get(name) ?? [];
    return list.length === 0 ? NaN : mbps(size, median(list.map((s) => s.seconds)));
  };
  const lines = [
    `${FILE} (${size} bytes) to /dev/null, ${RUNS} rounds; MB/s = 10^6 bytes/s from each client's own timing (connect to done; lftp: whole process), median [range]; "process" includes start-up`,
    '',
    '| client | MB/s median [range] | process MB/s median |',
    '|---|---:|---:|',
  ];
  for (const client of clients) {
    const list = samples.get(client.name) ?? [];
    if (list.length === 0) {
      lines.push(`| ${client.name} | failed: ${failures.get(client.name) ?? 'no runs'} | |`);
      continue;
    }
    const rates = list.map((s) => mbps(size, s.seconds));
    lines.push(`| ${client.name} | ${rate(client.name).toFixed(0)} [${Math.min(...rates).toFixed(0)}–${Math.max(...rates).toFixed(0)}] | ${mbps(size, median(list.map((s) => s.wall))).toFixed(0)} |`);
  }
  const ratio = (a: string, b: string): string => (rate(a) / rate(b)).toFixed(2);
  const one = ringstackKernel(1).name;
  const four = ringstackKernel(4).name;
  lines.push(
    '',
    `ratios (medians): ringstack --kernel ÷ basic-ftp ${ratio(one, basicFtp.name)} (1 segment), ${ratio(four, basicFtp.name)} (4 segments) — target ≥ 2;` +
      ` ÷ curl ${ratio(one, curl.name)} / ${ratio(four, curl.name)}; ÷ lftp pget ${ratio(one, lftp.name)} / ${ratio(four, lftp.name)}` +
      stackClients.map((c) => `; ${c.name} ÷ curl ${ratio(c.name, curl.name)}`).join('') + (WITH_STACK ? ' (target ≥ 0.8)' : ''),
  );
  return lines;
}

interface LoopSample {
  perSecond: number;
  medianMs: number;
}

/**
 * Compiles ftp-clients.ts and the FTP client with tsc, as the package ships: run through tsx, esbuild's keepNames
 * wraps every named closure in a defineProperty call (~30 µs per small-file fetch, warm, in a --cpu-prof).
 */
async function compileClients(): Promise<string> {
  await execCommand(
    [tscPath, '--ignoreConfig', '--outDir', compiledDir, '--rootDir', repoRoot, '--module', 'nodenext', '--moduleResolution', 'nodenext',
      '--target', 'es2022', '--strict', '--skipLibCheck', '--types', 'node', '--declaration', 'false', '--sourceMap', 'false', clientsPath],
    { timeoutMs: 120_000 },
  );
  return `${compiledDir}bench/ftp-clients.js`;
}

async function smallFiles(bed: Testbed): Promise<string[]> {
  const host = bed.kclientLink.peerIp;
  const compiledClients = await compileClients();
  // A Node loop (ours or the bare node:net one) in a fresh process, WARMUP untimed fetches first or none.
  const loops = [
    { name: 'FtpClient loop, fresh process', mode: 'retr-loop', warmup: 0 },
    { name: `FtpClient loop after ${WARMUP} untimed fetches`, mode: 'retr-loop', warmup: WARMUP },
    { name: 'bare node:net loop, fresh process (Node\'s floor)', mode: 'raw-loop', warmup: 0 },
    { name: `bare node:net loop after ${WARMUP} untimed fetches`, mode: 'raw-loop', warmup: WARMUP },
  ];
  const samples = new Map<string, LoopSample[]>(loops.map((l) => [l.name, []]));
  const curls: (LoopSample & { stalls: number })[] = [];
  for (let round = 0; round < RUNS; round++) {
    const line: string[] = [];
    for (const loop of loops) {
      const argv = [process.execPath, compiledClients, loop.mode, host, '1KiB', String(SMALL_COUNT), String(loop.warmup)];
      const summary = json((await timed(bed.namespaces.kclient, argv)).result);
      expectBytes(loop.name, summary['bytes'], SMALL_COUNT * 1024);
      const sample = { perSecond: SMALL_COUNT / Number(summary['seconds']), medianMs: Number(summary['medianMs']) };
      samples.get(loop.name)?.push(sample);
      line.push(`${loop.mode}${loop.warmup > 0 ? ' warm' : ''} ${sample.perSecond.toFixed(0)}/s`);
    }
    // One curl, COUNT URLs: it keeps the control connection and logs in once; -w prints each transfer's time.
    const args = ['curl', '-sS', '-w', '%{size_download} %{time_total}\\n'];
    for (let i = 0; i < SMALL_COUNT; i++) args.push('-o', '/dev/null', `ftp://${host}/1KiB`);
    const curlRun = await timed(bed.namespaces.kclient, args);
    const rows = curlRun.result.stdout.toString().trim().split('\n').map((row) => row.split(' ').map(Number));
    if (rows.length !== SMALL_COUNT || rows.some(([bytes]) => bytes !== 1024)) throw new Error(`curl fetched ${rows.length} files, not ${SMALL_COUNT} of 1024 bytes`);
    const times = rows.map(([, seconds]) => seconds as number);
    curls.push({ perSecond: SMALL_COUNT / curlRun.wall, medianMs: median(times) * 1000, stalls: times.filter((t) => t > 0.5).length });
    console.log(`  round ${round + 1}: ${line.join(', ')}, curl ${curls.at(-1)?.perSecond.toFixed(0)}/s (median fetch ${curls.at(-1)?.medianMs.toFixed(2)} ms, ${curls.at(-1)?.stalls} transfers over 0.5 s)`);
  }
  const range = (values: number[]): string => `${median(values).toFixed(0)} [${Math.min(...values).toFixed(0)}–${Math.max(...values).toFixed(0)}]`;
  const rate = (name: string): number => median((samples.get(name) ?? []).map((s) => s.perSecond));
  const curlRate = median(curls.map((c) => c.perSecond));
  const curlSteady = 1000 / median(curls.map((c) => c.medianMs));
  const [cold, warm, rawCold, rawWarm] = loops.map((l) => l.name) as [string, string, string, string];
  const medianFetch = (name: string): number => median((samples.get(name) ?? []).map((s) => s.medianMs));
  const curlMedianFetch = median(curls.map((c) => c.medianMs));
  return [
    `${SMALL_COUNT} RETRs of 1KiB over one control connection, ${RUNS} rounds (fetches/s median [range]; per-fetch median in ms); Node loops compiled by tsc`,
    '',
    '| client | fetches/s | median fetch ms |',
    '|---|---:|---:|',
    ...loops.map((l) => {
      const list = samples.get(l.name) ?? [];
      return `| ${l.name} | ${range(list.map((s) => s.perSecond))} | ${median(list.map((s) => s.medianMs)).toFixed(2)} |`;
    }),
    `| curl, ${SMALL_COUNT} URLs in one invocation (whole process) | ${range(curls.map((c) => c.perSecond))} | ${median(curls.map((c) => c.medianMs)).toFixed(2)} |`,
    '',
    `fetch for fetch, curl's median fetch ÷ ours: ${(curlMedianFetch / medianFetch(cold)).toFixed(2)} fresh, ${(curlMedianFetch / medianFetch(warm)).toFixed(2)} warm (above 1: ours is faster);` +
      ` our whole run ÷ curl's median fetch as a rate (${curlSteady.toFixed(0)}/s): ${(rate(cold) / curlSteady).toFixed(2)} / ${(rate(warm) / curlSteady).toFixed(2)};` +
      ` ÷ curl's whole run ${(rate(cold) / curlRate).toFixed(2)} / ${(rate(warm) / curlRate).toFixed(2)};` +
      ` ÷ the bare node:net loop ${(rate(cold) / rate(rawCold)).toFixed(2)} / ${(rate(warm) / rate(rawWarm)).toFixed(2)};` +
      ` curl transfers over 0.5 s per run: ${curls.map((c) => c.stalls).join(', ')}`,
  ];
}

async function main(): Promise<void> {
  if (!isRoot()) {
    console.error('bench/ftp.ts needs root (network namespaces): sudo npx tsx bench/ftp.ts');
    process.exitCode = 2;
    return;
  }
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    console.error(`\n${signal}: taking the bed down`);
    void testbedDown(BED).finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const load = (): string => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  try {
    await ensureLftp();
    const bed = await testbedUp({ name: BED, files: 'all', offloads: OFFLOADS });
    const loadBefore = load();
    console.log(`bed ${BED} up (MTU ${bed.mtu}, offloads ${bed.offloads}); ${new Date().toISOString()}, Node ${process.version}, ${os.cpus().length} CPUs, load ${loadBefore}`);
    const curlVersion = (await execCommand(['curl', '--version'], { timeoutMs: 5000 })).stdout.toString().split('\n')[0];
    const lftpVersion = (await execCommand(['lftp', '--version'], { timeoutMs: 5000 })).stdout.toString().split('\n')[0];
    const basicFtpVersion = (JSON.parse(await readFile(fileURLToPath(new URL('../node_modules/basic-ftp/package.json', import.meta.url)), 'utf8')) as { version: string }).version;
    let bulkLines: string[] = [];
    if (ONLY !== 'small') {
      console.log('bulk download');
      bulkLines = await bulk(bed);
    }
    let smallLines: string[] = [];
    if (ONLY !== 'bulk') {
      console.log('small files');
      smallLines = await smallFiles(bed);
    }
    console.log(
      [
        '',
        `## results (${new Date().toISOString().slice(0, 10)}; load ${loadBefore} → ${load()}; ${curlVersion}; ${lftpVersion}; basic-ftp ${basicFtpVersion})`,
        '',
        ...bulkLines,
        '',
        ...smallLines,
      ].join('\n'),
    );
  } finally {
    if (!stopping) await testbedDown(BED);
  }
}

await main();
