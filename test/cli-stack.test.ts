// The CLI's stack commands: `ringstack ping` and `ringstack stats`. Usage errors in-process; then, as root on the
// bed, the CLI run inside NAME-stack on `packet:NAME-s0` pings the kernel, and the kernel pings the running CLI.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../src/main/cli.js';
import { averageReceivedFrame, cliLinkSpec, mayTuneJit } from '../src/main/cli-stack.js';
import { UsageError } from '../src/main/cli-common.js';
import type { StackStats } from '../src/main/index.js';
import { readPcap } from './pcap-reader.js';
import { describeWithTestbed, execCommand, execInNamespace, testbedName, useTestbed } from './helpers/testbed.js';

async function cli(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough(), stderr = new PassThrough();
  let out = '', err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runCli(argv, { stdout, stderr, signal: new AbortController().signal });
  return { code, stdout: out, stderr: err };
}

describe('ringstack ping/stats command lines', () => {
  it('are listed in the help', async () => {
    const help = await cli(['--help']);
    expect(help.stderr).toMatch(/ping +ICMP echo/);
    expect(help.stderr).toMatch(/stats +bring a stack up/);
    const pingHelp = await cli(['ping', '--help']);
    for (const option of ['--link', '--ip', '--gateway', '--mtu', '--pcap', '--layout', '--offloads', '--count', '--stats']) expect(pingHelp.stdout).toContain(option);
  });

  it.each([
    [['ping'], /usage: ringstack ping HOST/],
    [['ping', '198.18.0.1', '--ip', '198.18.0.2/24'], /--link is required/],
    [['ping', '198.18.0.1', '--link', 'packet:x0'], /--ip is required/],
    [['ping', '198.18.0.1', '--link', 'packet:x0', '--ip', '198.18.0.2/24', '--count', '0'], /--count must be a positive integer/],
    [['ping', '198.18.0.1', '--link', 'packet:x0', '--ip', '198.18.0.2/24', '--interval', 'soon'], /--interval must be/],
    [['ping', '198.18.0.1', '--link', 'packet:x0', '--ip', '198.18.0.2/24', '--size', '70000'], /--size must be an integer from 0 to 65507/],
    [['ping', '198.18.0.1', '--link', 'packet:x0', '--ip', '198.18.0.2/24', '--mtu', '20'], /--mtu must be an integer from 68/],
    [['ping', '198.18.0.1', '--link', 'packet:x0', '--ip', '198.18.0.2/24', '--layout', 'four'], /--layout must be one of three, rx\+proto, single, inline/],
    [['stats', '--link', 'packet:x0', '--ip', '198.18.0.2'], /A\.B\.C\.D\/N/],
    [['stats', '--link', 'packet', '--ip', '198.18.0.2/24'], /packet link needs an interface/],
    [['stats', '--link', 'packet:x0', '--ip', '198.18.0.2/24', '--gateway', 'nowhere'], /bad gateway/],
    [['stats', '--link', 'packet:x0', '--ip', '198.18.0.2/24', '--wait=-1'], /--wait must be/],
    [['stats', 'extra', '--link', 'packet:x0', '--ip', '198.18.0.2/24'], /usage: ringstack stats/],
  ])('%j is a usage error', async (argv, message) => {
    const r = await cli(argv);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(EXIT.usage);
  });
});

// ---- on the bed ---------------------------------------------------------------------------------------------------

const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const preload = new URL('../src/main/tsx-worker-preload.mjs', import.meta.url).href;
const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  children.clear();
});
const dir = mkdtempSync(join(tmpdir(), 'ringstack-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Running {
  child: ChildProcess;
  /** Resolves once the CLI said it is up (its stderr line). */
  up: Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Runs the CLI from its sources inside a namespace (`ip netns exec` execs node: the PID is the CLI's). */
function runInNamespace(ns: string, argv: string[]): Running {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', preload, cliPath, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '', stderr = '';
  let sayUp: () => void = () => undefined;
  const up = new Promise<void>((resolve) => (sayUp = resolve));
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (/ringstack: up on /.test(stderr)) sayUp();
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    child.on('close', (code) => {
      children.delete(child);
      sayUp();
      resolve({ code, stdout, stderr });
    });
  });
  return { child, up, done };
}

describeWithTestbed('ringstack ping/stats against the Linux kernel on the bed', () => {
  const bed = useTestbed({ name: testbedName('cli'), files: 'none' });
  // The kernel's ping(8) is not part of a clean Debian (CI); the script installs it when missing.
  beforeAll(() => execCommand([fileURLToPath(new URL('../scripts/ensure-tools.sh', import.meta.url)), 'ping'], { timeoutMs: 600_000 }), 600_000);

  it('ringstack ping, run inside NAME-stack on packet:NAME-s0, gets the kernel\'s replies', async () => {
    const { namespaces, stackLink } = bed();
    const pcap = join(dir, 'ping.pcap');
    const run = runInNamespace(namespaces.stack, [
      'ping', stackLink.peerIp, '--link', `packet:${stackLink.stackIf}`, '--ip', `${stackLink.stackIp}/${stackLink.prefixLength}`,
      '--count', '3', '--interval', '0.1', '--pcap', pcap, '--json', '--stats',
    ]);
    const { code, stdout, stderr } = await run.done;
    expect(code, stderr).toBe(EXIT.ok);
    expect(stderr).toMatch(/layout inline\)/); // the CLI's default on a kernel link
    const result = JSON.parse(stdout) as { received: number; rttsMs: number[]; stats: { stages: Record<string, Record<string, number>> } };
    expect(result.received).toBe(3);
    expect(result.stats.stages.proto.icmpIn).toBeGreaterThanOrEqual(3);
    // The capture has our three requests and the kernel's three replies.
    const icmp = readPcap(readFileSync(pcap)).packets.filter((p) => p.data[12] === 0x08 && p.data[13] === 0x00 && p.data[23] === 1);
    expect(icmp.map((p) => p.data[34])).toEqual([8, 0, 8, 0, 8, 0]);
  });

  it('the kernel pings a running `ringstack stats`, which then counts the echo replies it sent', async () => {
    const { namespaces, stackLink } = bed();
    const run = runInNamespace(namespaces.stack, [
      'stats', '--link', `packet:${stackLink.stackIf}`, '--ip', `${stackLink.stackIp}/${stackLink.prefixLength}`, '--wait', '30', '--json',
    ]);
    await run.up;
    expect(run.child.exitCode, 'the CLI ended before it was up').toBeNull();
    const ping = await execInNamespace(namespaces.peer, ['ping', '-c', '3', '-i', '0.2', '-W', '2', stackLink.stackIp], { timeoutMs: 20_000, check: false });
    expect(ping.code, ping.stdout.toString() + ping.stderr).toBe(0);
    expect(ping.stdout.toString()).toMatch(/3 packets transmitted, 3 received/);
    process.kill(run.child.pid!, 'SIGINT'); // Ctrl-C ends --wait early; the counters are printed
    const { code, stdout, stderr } = await run.done;
    expect(code, stderr).toBe(EXIT.ok);
    const { stats } = JSON.parse(stdout) as { stats: { stages: Record<string, Record<string, number>> } };
    expect(stats.stages.proto.icmpEchoRepliesOut).toBe(3);
    // The kernel learned our MAC from the stack's gratuitous ARP or asked for it; either way it reached us.
    expect(stats.stages.proto.arpRequestsOut + (stats.stages.proto.arpRepliesOut ?? 0)).toBeGreaterThanOrEqual(1);
    expect(stats.stages.proto.framesIn).toBeGreaterThanOrEqual(3);
  });
});

describe('--offloads', () => {
  it('gives packet and tap links virtio-net headers unless off, and refuses it elsewhere or with a bad value', () => {
    expect(cliLinkSpec('packet:eth0', undefined)).toEqual({ driver: 'packet', ifname: 'eth0', vnetHdr: true });
    expect(cliLinkSpec('packet:auto', 'on')).toEqual({ driver: 'packet', ifname: 'auto', vnetHdr: true });
    expect(cliLinkSpec('tap:tap0', 'off')).toEqual({ driver: 'tap', name: 'tap0', vnetHdr: false });
    expect(cliLinkSpec('raw', undefined)).toBe('raw');
    expect(() => cliLinkSpec('raw', 'on')).toThrow(UsageError);
    expect(() => cliLinkSpec('packet:eth0', 'yes')).toThrow(/--offloads must be on or off/);
    expect(() => cliLinkSpec('packet:', undefined)).toThrow(UsageError);
  });

  it('a bad --offloads is a usage error of the command line', async () => {
    const r = await cli(['ping', '198.18.0.1', '--link', 'packet:eth0', '--ip', '198.18.0.2/24', '--offloads', 'maybe']);
    expect(r.code).toBe(EXIT.usage);
    expect(r.stderr).toMatch(/--offloads must be on or off/);
  });
});

describe('CLI tier-up budget', () => {
  const child = fileURLToPath(new URL('./fixtures/jit-tier-child.ts', import.meta.url));
  function callsToOptimize(mode: 'raise' | 'default'): number {
    const out = execFileSync(process.execPath, ['--allow-natives-syntax', '--no-concurrent-recompilation', '--import', preload, child, mode], { encoding: 'utf8' });
    return (JSON.parse(out.trim()) as { calls: number }).calls;
  }

  it('setTierUpBudget makes V8 wait many times longer before optimising', () => {
    const plain = callsToOptimize('default');
    const raised = callsToOptimize('raise');
    expect(plain).toBeLessThan(10_000);
    // The budget is 31× V8's default.
    expect(raised).toBeGreaterThan(plain * 10);
  });

  it('leaves a budget given to node alone', () => {
    expect(mayTuneJit(['--interrupt-budget=67584'])).toBe(false);
    expect(mayTuneJit(['--interrupt_budget', '100000'])).toBe(false);
    expect(mayTuneJit(['--import', 'tsx', '--max-old-space-size=512'])).toBe(true);
  });

  it('judges the average received frame once 1024 frames have arrived', () => {
    const stats = (frames: number, bytes: number): StackStats => ({
      layout: 'inline', interfaces: [], rings: {},
      stages: { rx: { 'if0.rxFrames': 0, 'if1.rxFrames': frames, 'if1.rxBytes': bytes, framesIn: 0 } },
    });
    expect(averageReceivedFrame(stats(100, 100 * 60_000))).toBeUndefined();
    expect(averageReceivedFrame(stats(6000, 6000 * 1514))).toBe(1514);
    expect(averageReceivedFrame(stats(1024, 1024 * 60_000))).toBe(60_000);
    expect(averageReceivedFrame({ ...stats(0, 0), stages: {} })).toBeUndefined();
  });
});
