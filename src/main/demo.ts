// `npm start`: the main job out of the box. Two stacks joined by the in-memory wire in this process; an FTP server
// on one serves a generated file, the FTP client on the other fetches it over several connections; the report
// shows the rate, the verified sha256 and each stage's counters. No root needed. With --bed (root), the client's
// stack runs on an AF_PACKET socket against vsftpd and the Linux kernel on the project's veth test bed instead.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { FtpClient, FtpServer, segmentedDownload } from '../ftp/index.js';
import { createMemoryWire } from './memory-wire.js';
import { formatBytes, progressBar } from './progress.js';
import { createStack, type Stack, type StackLayout, type StackStats } from './stack.js';
import { ringstackTransport } from './ftp-transport.js';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '256' },
    segments: { type: 'string', default: '4' },
    mtu: { type: 'string', default: '9000' },
    layout: { type: 'string' },
    bed: { type: 'boolean', default: false },
    file: { type: 'string', default: '100MiB' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(`npm start [-- --size MIB] [--segments N] [--mtu BYTES] [--layout three|rx+proto|single|inline]
npm start -- --bed [--file NAME]   (root: against vsftpd on the veth test bed, over AF_PACKET)\n`);
  process.exit(0);
}

const segments = Number(values.segments);
const layout = values.layout as StackLayout | undefined;
const out = process.stdout;

function stageSummary(label: string, stats: StackStats): string {
  const pick = (stage: string, keys: string[]): string =>
    keys.filter((k) => stats.stages[stage]?.[k] !== undefined).map((k) => `${k}=${stats.stages[stage][k]}`).join(' ');
  return [
    `  ${label} (layout ${stats.layout})`,
    `    rx:    ${pick('rx', ['framesIn', 'bytesIn', 'checksumsVerified', 'notForUs'])}`,
    `    proto: ${pick('proto', ['ipIn', 'ipOut', 'tcpIn', 'tcpSegmentsIn', 'tcpRetransmittedSegments', 'arpIn', 'commands'])}`,
    `    tx:    ${pick('tx', ['framesOut', 'checksumsFinished', 'deviceBusy'])}`,
  ].join('\n');
}

/** Writes `bytes` of deterministic data; returns its sha256. */
function generateFile(path: string, bytes: number): string {
  const block = Buffer.allocUnsafe(1 << 20);
  const hash = createHash('sha256');
  const fd = openSync(path, 'w');
  try {
    let x = 0x12345678;
    for (let written = 0; written < bytes; written += block.length) {
      for (let i = 0; i < block.length; i += 4) {
        x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
        block.writeUInt32LE(x, i);
      }
      const n = Math.min(block.length, bytes - written);
      hash.update(block.subarray(0, n));
      writeSync(fd, block, 0, n);
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

async function fetch(clientStack: Stack, host: string, remotePath: string, localPath: string): Promise<{ seconds: number; size: number; sha256: string; connections: number; retries: number }> {
  const transport = ringstackTransport(clientStack);
  const bar = progressBar(process.stderr);
  const started = performance.now();
  const result = await segmentedDownload({
    connect: async (signal) => {
      const client = await FtpClient.connect({ transport, host, signal });
      await client.login();
      return client;
    },
    remotePath,
    localPath,
    segments,
    resume: false,
    onProgress: (done, total) => bar.update(done, total),
  });
  bar.finish();
  if (!result.sha256) throw new Error('the download finished without a sha256');
  return { seconds: (performance.now() - started) / 1000, size: result.size, sha256: result.sha256, connections: result.connections, retries: result.retries };
}

function report(fetched: { seconds: number; size: number; sha256: string; connections: number; retries: number }, expected: string): boolean {
  const verified = fetched.sha256 === expected;
  const rate = fetched.size / fetched.seconds;
  out.write(`\nfetched ${formatBytes(fetched.size)} in ${fetched.seconds.toFixed(2)} s: ${formatBytes(rate)}/s, ${((rate * 8) / 1e9).toFixed(2)} Gbit/s over ${fetched.connections} connections (${fetched.retries} retries)\n`);
  out.write(`sha256 ${fetched.sha256} ${verified ? 'verified' : `MISMATCH (expected ${expected})`}\n`);
  return verified;
}

async function memoryDemo(): Promise<boolean> {
  const sizeMiB = Number(values.size);
  if (!Number.isInteger(sizeMiB) || sizeMiB < 1) throw new Error('--size must be a whole number of MiB ≥ 1');
  const dir = mkdtempSync(join(tmpdir(), 'ringstack-demo-'));
  const stacks: Stack[] = [];
  let server: FtpServer | undefined;
  try {
    out.write(`generating a ${sizeMiB} MiB file ...\n`);
    const expected = generateFile(join(dir, 'demo.bin'), sizeMiB << 20);
    const [serverEnd, clientEnd] = createMemoryWire({ mtu: Number(values.mtu) });
    const serverStack = await createStack({ link: serverEnd, address: '198.18.7.1/24', layout });
    stacks.push(serverStack);
    const clientStack = await createStack({ link: clientEnd, address: '198.18.7.2/24', layout });
    stacks.push(clientStack);
    server = new FtpServer({ transport: ringstackTransport(serverStack), root: dir });
    await server.listen({ host: '198.18.7.1', port: 21 });
    out.write(`FTP server on stack 198.18.7.1, client on stack 198.18.7.2, in-memory wire MTU ${values.mtu}; fetching with ${segments} connections\n`);
    const fetched = await fetch(clientStack, '198.18.7.1', 'demo.bin', join(dir, 'fetched.bin'));
    const ok = report(fetched, expected);
    out.write('per-stage counters:\n');
    out.write(`${stageSummary('client stack', await clientStack.stats())}\n${stageSummary('server stack', await serverStack.stats())}\n`);
    return ok;
  } finally {
    await server?.close();
    for (const s of stacks) await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function bedDemo(): Promise<boolean> {
  if (process.getuid?.() !== 0) throw new Error('--bed needs root (network namespaces, AF_PACKET); run `npm start` without it for the in-memory demo');
  const script = fileURLToPath(new URL('../../scripts/testbed.sh', import.meta.url));
  const name = 'rsdemo';
  execFileSync(script, ['up', '--name', name, '--files', 'all'], { stdio: ['ignore', 'ignore', 'inherit'] });
  const dir = mkdtempSync(join(tmpdir(), 'ringstack-demo-'));
  let stack: Stack | undefined;
  try {
    const env = Object.fromEntries(execFileSync(script, ['env', '--name', name], { encoding: 'utf8' }).trim().split('\n').map((l) => l.split(/=(.*)/s).slice(0, 2)));
    const sums = readFileSync(join(env.RSBED_FILES_DIR, 'SHA256SUMS'), 'utf8');
    const expected = sums.split('\n').find((l) => l.endsWith(` ${values.file}`) || l.endsWith(`*${values.file}`))?.split(/\s+/)[0];
    if (!expected) throw new Error(`no file ${values.file} on the bed`);
    stack = await createStack({ link: { driver: 'packet', ifname: env.RSBED_STACK_IF, netns: env.RSBED_STACK_NS }, address: `${env.RSBED_STACK_IP}/${env.RSBED_PREFIX_LEN}`, layout });
    out.write(`vsftpd on the Linux kernel at ${env.RSBED_PEER_IP}; our stack at ${env.RSBED_STACK_IP} on packet:${env.RSBED_STACK_IF}; fetching ${values.file} with ${segments} connections\n`);
    const fetched = await fetch(stack, env.RSBED_PEER_IP, values.file, join(dir, 'fetched.bin'));
    const ok = report(fetched, expected);
    out.write(`per-stage counters:\n${stageSummary('our stack', await stack.stats())}\n`);
    return ok;
  } finally {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
    execFileSync(script, ['down', '--name', name], { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

try {
  const ok = values.bed ? await bedDemo() : await memoryDemo();
  process.exitCode = ok ? 0 : 6;
} catch (err) {
  process.stderr.write(`demo failed: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
