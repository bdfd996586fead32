// Host names in `ringstack ls/get` against a DNS server on the Linux kernel (the bed, docs/TESTBED.md): on our
// stack with --dns and with the namespace's resolv.conf, over UDP and over TCP after truncation; with --kernel
// through node:dns. The DNS server is a process of ours in the peer namespace, ended by its PID.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithTestbed, testbedName, useTestbed } from './helpers/testbed.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const dnsServerScript = fileURLToPath(new URL('./helpers/kernel-dns-server.ts', import.meta.url));

function rmdirEmpty(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // not empty (or gone): leave it
  }
}

describeWithTestbed('host names against a DNS server on the kernel', () => {
  const bed = useTestbed({ name: testbedName('dn'), files: 'small' });
  const dir = mkdtempSync(join(tmpdir(), 'ringstack-dns-bed-'));
  chmodSync(dir, 0o755);
  let server: ChildProcess | undefined;
  let serverLog = '';
  let netnsDir: string | undefined;
  let createdEtcNetns = false;

  beforeAll(async () => {
    const b = bed();
    const names = { 'ftp.bed.test': b.stackLink.peerIp, 'big.bed.test': b.stackLink.peerIp, 'kernel.bed.test': b.kclientLink.peerIp };
    server = spawn('ip', ['netns', 'exec', b.namespaces.peer, process.execPath, '--import', 'tsx', dnsServerScript, '53', JSON.stringify(names), JSON.stringify(['big.bed.test'])], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    server.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`DNS server did not start: ${stderr}`)), 30_000);
      server?.stdout?.on('data', (chunk: Buffer) => {
        serverLog += chunk.toString();
        if (serverLog.includes('ready')) {
          clearTimeout(timer);
          resolve();
        }
      });
      server?.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`DNS server exited (${String(code)}): ${stderr}`));
      });
    });
  }, 60_000);

  afterAll(async () => {
    if (netnsDir !== undefined) rmSync(netnsDir, { recursive: true, force: true });
    if (createdEtcNetns) rmdirEmpty('/etc/netns'); // only if nobody else put a namespace's files there meanwhile
    rmSync(dir, { recursive: true, force: true });
    const child = server;
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      process.kill(child.pid, 'SIGTERM');
      await exited;
    }
  });

  async function inNamespace(ns: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    try {
      const { stdout, stderr } = await run('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', cli, ...args], { timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  function onStack(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const b = bed();
    return inNamespace(b.namespaces.stack, [...args, '--link', `packet:${b.stackLink.stackIf}`, '--ip', `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`, '--timeout', '10']);
  }

  it('on our stack with --dns: a name over UDP, one over TCP after truncation, and NXDOMAIN as exit 3', async () => {
    const b = bed();
    const ls = await onStack('ls', 'ftp://ftp.bed.test/', '--dns', b.stackLink.peerIp);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/1MiB/);
    const file = b.files.find((f) => f.name === '1MiB')!;
    const get = await onStack('get', 'ftp://big.bed.test/1MiB', '-o', join(dir, '1MiB'), '--json', '--dns', `${b.stackLink.peerIp}:53`);
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout)).toMatchObject({ transport: 'ringstack', sha256: file.sha256 });
    expect(readFileSync(join(dir, '1MiB')).length).toBe(file.size);
    expect(serverLog).toMatch(/query ftp\.bed\.test udp\n/);
    expect(serverLog).toMatch(/query big\.bed\.test udp\nquery big\.bed\.test tcp\n/);
    const missing = await onStack('ls', 'ftp://nope.bed.test/', '--dns', b.stackLink.peerIp);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/cannot resolve nope\.bed\.test: queryA ENOTFOUND nope\.bed\.test/);
  });

  it("on our stack without --dns: the nameserver of the namespace's resolv.conf", async () => {
    const b = bed();
    // `ip netns exec` mounts /etc/netns/NS/resolv.conf over /etc/resolv.conf for the command it runs.
    netnsDir = join('/etc/netns', b.namespaces.stack);
    createdEtcNetns = !existsSync('/etc/netns');
    mkdirSync(netnsDir, { recursive: true });
    writeFileSync(join(netnsDir, 'resolv.conf'), `# ringstack test\nnameserver ${b.stackLink.peerIp}\noptions timeout:2\n`);
    const before = serverLog.length;
    const ls = await onStack('ls', 'ftp://FTP.bed.test./');
    expect(ls.code, ls.stderr).toBe(0);
    expect(serverLog.slice(before)).toMatch(/query ftp\.bed\.test udp/);
    expect(ls.stdout).toMatch(/1MiB/);
  });

  it('with --kernel through node:dns, asking --dns', async () => {
    const b = bed();
    const ls = await inNamespace(b.namespaces.kclient, ['ls', 'ftp://kernel.bed.test/', '--kernel', '--dns', b.kclientLink.peerIp, '--timeout', '10']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(serverLog).toMatch(/query kernel\.bed\.test udp/);
    expect(ls.stdout).toMatch(/1MiB/);
  });
});
