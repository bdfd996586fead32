// The `raw` link (raw-socket on the main thread feeding the stages' rings) against the Linux kernel, in two
// network namespaces of this test's own: A holds the stack's address (a raw socket sees only what the kernel
// delivers locally), B is the kernel peer. Also what docs/RAW-LINK.md says about the kernel's own answers: its
// TCP resets kill our connections until the firewall drops them, and our marked packets pass.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXIT } from '../src/main/cli.js';
import { RAW_LINK_DEFAULT_MARK, RawSocketPump, rawDriver } from '../src/link/index.js';
import { execCommand, execInNamespace, isRoot } from './helpers/testbed.js';

const tag = `rw${process.pid.toString(36)}`;
const nsA = `${tag}a`, nsB = `${tag}b`;
const ifA = `${tag}a0`, ifB = `${tag}b0`;
const A = '198.18.9.2', B = '198.18.9.1';
const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const childPath = fileURLToPath(new URL('./fixtures/raw-link-child.ts', import.meta.url));
const preload = new URL('../src/main/tsx-worker-preload.mjs', import.meta.url).href;
const mark = `0x${RAW_LINK_DEFAULT_MARK.toString(16)}`;
const ensureTools = fileURLToPath(new URL('../scripts/ensure-tools.sh', import.meta.url));
const exec = { timeoutMs: 20_000 };

const children = new Set<ChildProcess>();
afterEach(() => {
  for (const child of children) if (child.exitCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
  children.clear();
});

interface Running {
  child: ChildProcess;
  up: Promise<void>;
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Node on `script` inside a namespace (ip netns exec execs it: the PID is node's), resolving `up` on `upLine`. */
function runInNamespace(ns: string, nodeArgs: string[], upLine: RegExp): Running {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '--import', preload, ...nodeArgs], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(child);
  let stdout = '', stderr = '';
  let sayUp: () => void = () => undefined;
  const up = new Promise<void>((resolve) => (sayUp = resolve));
  child.stdout!.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr!.on('data', (c: Buffer) => {
    stderr += c.toString();
    if (upLine.test(stderr)) sayUp();
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

async function iptablesPackets(ns: string, comment: string): Promise<number> {
  const { stdout } = await execInNamespace(ns, ['iptables', '-L', 'OUTPUT', '-v', '-n', '-x'], exec);
  const line = stdout.toString().split('\n').find((l) => l.includes(`/* ${comment} */`));
  if (!line) throw new Error(`no iptables rule ${comment} in ${ns}`);
  return Number(line.trim().split(/\s+/)[0]);
}

describe('the raw driver on its own', () => {
  it('refuses a raw spec that did not go through createStack, saying why', () => {
    expect(() => rawDriver.create({ driver: 'raw' }, 'both')).toThrow(/raw-socket runs only on the main thread.*createStack/);
  });

  it('checks its options before opening anything', () => {
    expect(() => RawSocketPump.open({ driver: 'raw', mtu: 20 }, 0)).toThrow(/mtu must be an integer from 68/);
    expect(() => RawSocketPump.open({ driver: 'raw', protocols: ['sctp' as 'tcp'] }, 0)).toThrow(/unknown protocol "sctp"/);
    expect(() => RawSocketPump.open({ driver: 'raw', mark: -1 }, 0)).toThrow(/mark must be a 32-bit/);
  });
});

if (!isRoot()) console.warn('[link-raw] skipping: raw sockets and network namespaces need root (CI runs as root).');

describe.skipIf(!isRoot())('the raw link against the Linux kernel', () => {
  beforeAll(async () => {
    // A clean Debian (CI) may lack some of these; the script installs what is missing.
    await execCommand([ensureTools, 'ip', 'iptables', 'ping', 'sysctl'], { timeoutMs: 600_000 });
    await execCommand(['ip', 'netns', 'add', nsA], exec);
    await execCommand(['ip', 'netns', 'add', nsB], exec);
    await execCommand(['ip', 'link', 'add', ifA, 'netns', nsA, 'type', 'veth', 'peer', 'name', ifB, 'netns', nsB], exec);
    for (const [ns, dev, address] of [[nsA, ifA, A], [nsB, ifB, B]]) {
      await execCommand(['ip', '-n', ns, 'addr', 'add', `${address}/24`, 'dev', dev], exec);
      await execCommand(['ip', '-n', ns, 'link', 'set', dev, 'up'], exec);
      await execCommand(['ip', '-n', ns, 'link', 'set', 'lo', 'up'], exec);
    }
  }, 600_000);
  afterAll(async () => {
    // Deleting the namespaces takes the veth pair and the firewall rules with them.
    for (const ns of [nsA, nsB]) await execCommand(['ip', 'netns', 'del', ns], { ...exec, check: false });
  });

  it('ringstack ping --link raw reaches the kernel peer', async () => {
    const run = runInNamespace(nsA, [cliPath, 'ping', B, '--link', 'raw', '--ip', `${A}/24`, '--count', '3', '--interval', '0.1', '--json', '--stats'], /ringstack: up/);
    const { code, stdout, stderr } = await run.done;
    expect(code, stderr).toBe(EXIT.ok);
    const result = JSON.parse(stdout) as { received: number; stats: { interfaces: { name: string; mac: string }[]; stages: Record<string, Record<string, number>> } };
    expect(result.received).toBe(3);
    expect(result.stats.interfaces[1]).toMatchObject({ name: 'raw0', mac: '00:00:00:00:00:00' });
    expect(result.stats.stages.main['if1.sent']).toBeGreaterThanOrEqual(3);
    expect(result.stats.stages.main['if1.received']).toBeGreaterThanOrEqual(3);
    expect(result.stats.stages.proto.arpRequestsOut ?? 0).toBe(0); // an L3 link: no ARP
  });

  it('the kernel peer pings the stack; with the host kernel told to stay silent, only our replies come back', async () => {
    await execInNamespace(nsA, ['sysctl', '-q', '-w', 'net.ipv4.icmp_echo_ignore_all=1'], exec);
    try {
      const run = runInNamespace(nsA, [cliPath, 'stats', '--link', 'raw', '--ip', `${A}/24`, '--wait', '30', '--json'], /ringstack: up/);
      await run.up;
      const ping = await execInNamespace(nsB, ['ping', '-c', '3', '-i', '0.2', '-W', '2', A], { ...exec, check: false });
      const out = ping.stdout.toString();
      expect(ping.code, out + ping.stderr).toBe(0);
      expect(out).toMatch(/3 packets transmitted, 3 received/);
      expect(out).not.toContain('DUP!');
      process.kill(run.child.pid!, 'SIGINT');
      const { code, stdout, stderr } = await run.done;
      expect(code, stderr).toBe(EXIT.ok);
      expect((JSON.parse(stdout) as { stats: { stages: Record<string, Record<string, number>> } }).stats.stages.proto.icmpEchoRepliesOut).toBe(3);
    } finally {
      await execInNamespace(nsA, ['sysctl', '-q', '-w', 'net.ipv4.icmp_echo_ignore_all=0'], exec);
    }
  });

  it('echoes 3000 UDP datagrams from the kernel while GC runs every 50 ms; the kernel\'s port unreachables are dropped', async () => {
    await execInNamespace(nsA, ['iptables', '-A', 'OUTPUT', '-s', A, '-p', 'icmp', '--icmp-type', 'port-unreachable',
      '-m', 'mark', '!', '--mark', mark, '-m', 'comment', '--comment', 'kernel-unreach', '-j', 'DROP'], exec);
    const run = runInNamespace(nsA, ['--expose-gc', childPath, 'udp-echo', `${A}/24`, '7'], /^up$/m);
    await run.up;
    const flood = `
      const d = require('dgram').createSocket('udp4'); const N = 3000, W = 32, p = Buffer.alloc(512); let sent = 0, got = 0;
      const send = () => { p.writeUInt32BE(sent, 0); sent++; d.send(p, 7, '${A}'); };
      d.on('message', (m) => { got++; if (sent < N) send(); else if (got === N) { console.log(got); process.exit(0); } });
      d.bind(0, '${B}', () => { for (let i = 0; i < W; i++) send(); });
      setTimeout(() => { console.log(got); process.exit(1); }, 15000);`;
    const sender = await execInNamespace(nsB, [process.execPath, '-e', flood], { timeoutMs: 30_000, check: false });
    run.child.stdin!.end();
    const { code, stdout, stderr } = await run.done;
    expect(code, stderr).toBe(0);
    expect(sender.stdout.toString().trim()).toBe('3000');
    const result = JSON.parse(stdout) as { echoed: number; gcForced: boolean };
    expect(result).toMatchObject({ echoed: 3000, gcForced: true });
    // The host kernel has no socket on port 7: it answered each datagram with an error, which the rule dropped.
    expect(await iptablesPackets(nsA, 'kernel-unreach')).toBeGreaterThan(0);
  });

  it('TCP: the kernel resets our connection until its resets are dropped; our own (marked) packets still pass', async () => {
    const server = spawn('ip', ['netns', 'exec', nsB, process.execPath, '-e', `require('net').createServer((s) => s.pipe(s)).listen(7007, '${B}', () => console.log('listening'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.add(server);
    await new Promise<void>((resolve) => server.stdout!.once('data', () => resolve()));
    // A counting rule (no target): the kernel's own resets from the stack's address.
    await execInNamespace(nsA, ['iptables', '-A', 'OUTPUT', '-s', A, '-p', 'tcp', '--tcp-flags', 'RST', 'RST',
      '-m', 'mark', '!', '--mark', mark, '-m', 'comment', '--comment', 'kernel-rst-count'], exec);
    const tcp = async (): Promise<{ ok: boolean; error?: string; echoed?: string }> => {
      const run = runInNamespace(nsA, [childPath, 'tcp', `${A}/24`, B, '7007'], /^up$/m);
      const { code, stdout, stderr } = await run.done;
      expect(code, stderr).toBe(0);
      return JSON.parse(stdout) as { ok: boolean; error?: string; echoed?: string };
    };
    const reset = await tcp();
    expect(reset).toMatchObject({ ok: false, error: 'ECONNRESET' });
    expect(await iptablesPackets(nsA, 'kernel-rst-count')).toBeGreaterThan(0);

    await execInNamespace(nsA, ['iptables', '-A', 'OUTPUT', '-s', A, '-p', 'tcp', '--tcp-flags', 'RST', 'RST',
      '-m', 'mark', '!', '--mark', mark, '-m', 'comment', '--comment', 'kernel-rst-drop', '-j', 'DROP'], exec);
    expect(await tcp()).toMatchObject({ ok: true, echoed: 'hello over raw\n' });
    expect(await iptablesPackets(nsA, 'kernel-rst-drop')).toBeGreaterThan(0);
    process.kill(server.pid!, 'SIGTERM');
  });
});
