import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStack, type Stack, type TcpSocket } from '../src/main/index.js';
import { ETHERNET_HEADER_BYTES, IPPROTO_TCP, TCP_ACK, TCP_SYN, createIpv4Repr, createTcpRepr, parseIpv4, parseTcp } from '../src/wire/index.js';
import { echoThrough, kernelEchoClient, startKernelPeer, type KernelPeer } from './helpers/kernel-peer.js';
import { describeWithTestbed, execCommand, execInNamespace, testbedName, useTestbed, type Testbed } from './helpers/testbed.js';
import { readPcap } from './pcap-reader.js';

const ensureTools = fileURLToPath(new URL('../scripts/ensure-tools.sh', import.meta.url));

// Our stack on an AF_PACKET socket against the Linux kernel on the project's test bed (docs/TESTBED.md).
describeWithTestbed('the stack against the Linux kernel over packet:', () => {
  const bed = useTestbed({ name: testbedName('rk'), files: 'small' });
  beforeAll(() => execCommand([ensureTools, 'ping'], { timeoutMs: 600_000 }), 600_000); // the kernel pings us
  const dir = mkdtempSync(join(tmpdir(), 'ringstack-kernel-'));
  const pcap = join(dir, 'link.pcap');
  let stack: Stack;
  const children: ChildProcess[] = [];

  beforeAll(async () => {
    const b = bed();
    stack = await createStack({
      link: { driver: 'packet', ifname: b.stackLink.stackIf, netns: b.namespaces.stack },
      address: `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`,
      pcap,
    });
  });

  afterAll(async () => {
    await stack?.close();
    for (const child of children) if (child.exitCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts a node program inside a namespace; it is killed (by PID) after the tests. */
  function spawnInNamespace(ns: string, program: string): Promise<ChildProcess> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', program], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    return new Promise((resolve, reject) => {
      child.stdout!.once('data', () => resolve(child)); // the program prints once it listens
      child.once('exit', (code) => reject(new Error(`${program} exited with ${String(code)}`)));
    });
  }

  it('resolves ARP and pings the kernel, and the kernel pings us', async () => {
    const b = bed();
    const rtts = await stack.ping(b.stackLink.peerIp, { count: 3, intervalMs: 10 });
    expect(rtts).toHaveLength(3);
    const r = await execInNamespace(b.namespaces.peer, ['ping', '-c', '3', '-i', '0.2', '-W', '2', b.stackLink.stackIp], { timeoutMs: 10_000 });
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/3 received/);
  });

  it('our TCP client moves 64 MiB each way through a kernel echo server', async () => {
    const b = bed();
    await spawnInNamespace(b.namespaces.peer, `require('net').createServer((s) => s.pipe(s)).listen(9000, '${b.stackLink.peerIp}', () => console.log('up'))`);
    const size = 64 << 20;
    const chunk = Buffer.alloc(1 << 20);
    for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131) & 0xff;
    const sent = createHash('sha256');
    const received = createHash('sha256');
    let got = 0;
    const socket: TcpSocket = stack.connect({ host: b.stackLink.peerIp, port: 9000, allowHalfOpen: true });
    const done = new Promise<void>((resolve, reject) => {
      socket.on('data', (d: Buffer) => {
        received.update(d);
        got += d.length;
      });
      socket.on('end', resolve);
      socket.on('error', reject);
    });
    for (let n = 0; n < size; n += chunk.length) {
      sent.update(chunk);
      if (!socket.write(chunk)) await new Promise((r) => socket.once('drain', r));
    }
    socket.end();
    await done;
    expect(got).toBe(size);
    expect(received.digest('hex')).toBe(sent.digest('hex'));
  }, 120_000);

  it('kernel clients (curl, nc) fetch from our server', async () => {
    const b = bed();
    const body = Buffer.alloc(16 << 20);
    for (let i = 0; i < body.length; i++) body[i] = (i * 7 + 3) & 0xff;
    const httpServer = http.createServer((_req, res) => res.end(body));
    const server = stack.createServer((socket) => httpServer.emit('connection', socket));
    await new Promise<void>((resolve) => server.listen(8080, resolve));
    const curl = await execInNamespace(b.namespaces.peer, ['curl', '-sS', '--max-time', '60', `http://${b.stackLink.stackIp}:8080/`], { timeoutMs: 70_000 });
    expect(curl.stdout.length).toBe(body.length);
    expect(createHash('sha256').update(curl.stdout).digest('hex')).toBe(createHash('sha256').update(body).digest('hex'));
    const echo = stack.createServer((s) => s.on('data', (d: Buffer) => s.end(`hello ${d.toString().trim()}`)));
    await new Promise<void>((resolve) => echo.listen(7007, resolve));
    const nc = await execInNamespace(b.namespaces.peer, ['nc', '-q', '2', '-w', '5', b.stackLink.stackIp, '7007'], { timeoutMs: 10_000, input: 'kernel\n' });
    expect(nc.stdout.toString()).toBe('hello kernel');
    server.close();
    echo.close();
  }, 120_000);

  it('after the link goes down and up, the idle stage worker sleeps again (its poll clears the socket error) and answers', async () => {
    const b = bed();
    await flapStackLink(b);
    // A pending ENETDOWN made every poll(2) return at once until our next send cleared it: a whole core spun (95 %,
    // measured) while nothing was sent.
    const before = process.cpuUsage();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const used = process.cpuUsage(before);
    expect((used.user + used.system) / 1e6).toBeLessThan(0.3);
    const r = await execInNamespace(b.namespaces.peer, ['ping', '-c', '3', '-i', '0.2', '-W', '2', b.stackLink.stackIp], { timeoutMs: 15_000, check: false });
    expect(r.stdout.toString()).toMatch(/3 received/);
  });

  it('the capture shows the SYN options both sides agreed: MSS, window scale, SACK-permitted, timestamps', async () => {
    const b = bed();
    await new Promise((r) => setTimeout(r, 250)); // the pcap writer flushes every 100 ms
    const file = readPcap(readFileSync(pcap));
    const ip = createIpv4Repr();
    const tcp = createTcpRepr();
    const syns: { fromUs: boolean; synAck: boolean; mss: number; windowScale: number; sack: boolean; ts: boolean }[] = [];
    for (const p of file.packets) {
      const frame = p.data;
      if (frame.length < ETHERNET_HEADER_BYTES + 20 || frame[12] !== 0x08 || frame[13] !== 0x00) continue;
      if (parseIpv4(frame, ETHERNET_HEADER_BYTES, frame.length - ETHERNET_HEADER_BYTES, ip, true) !== 0 || ip.protocol !== IPPROTO_TCP) continue;
      if (parseTcp(frame, ip.payloadOffset, ip.payloadLength, tcp, -1) !== 0 || !(tcp.flags & TCP_SYN)) continue;
      syns.push({
        fromUs: formatted(ip.src) === b.stackLink.stackIp, synAck: (tcp.flags & TCP_ACK) !== 0,
        mss: tcp.mss, windowScale: tcp.windowScale, sack: tcp.sackPermitted, ts: tcp.tsPresent,
      });
    }
    const ours = syns.find((s) => s.fromUs && !s.synAck);
    const theirs = syns.find((s) => !s.fromUs && s.synAck);
    expect(ours).toBeDefined();
    expect(theirs).toBeDefined();
    for (const s of [ours!, theirs!]) {
      expect(s.mss).toBe(b.mtu - 40);
      expect(s.windowScale).toBeGreaterThanOrEqual(0);
      expect(s.sack).toBe(true);
      expect(s.ts).toBe(true);
    }
    // And the kernel's own SYNs to our server were answered with the same options.
    expect(syns.some((s) => !s.fromUs && !s.synAck)).toBe(true);
    expect(syns.some((s) => s.fromUs && s.synAck && s.sack && s.ts && s.windowScale >= 0)).toBe(true);
  });
});

/** Takes the stack's veth end down and up again: the packet socket gets ENETDOWN pending on it. */
async function flapStackLink(b: Testbed): Promise<void> {
  for (const state of ['down', 'up']) {
    await execInNamespace(b.namespaces.stack, ['ip', 'link', 'set', b.stackLink.stackIf, state], { timeoutMs: 5_000 });
  }
}

function formatted(addr: number): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

const childPath = fileURLToPath(new URL('./fixtures/inline-kernel-child.ts', import.meta.url));
const tsxPreload = new URL('../src/main/tsx-worker-preload.mjs', import.meta.url).href;
const inlineChildren: ChildProcess[] = [];

// Layout inline on the same kind of link: no stage worker; this thread's event loop watches the packet socket
// (the addon's watchFd) and runs the stages when it is readable.
describeWithTestbed('layout inline against the Linux kernel over packet: with vnet headers', () => {
  const bed = useTestbed({ name: testbedName('rki'), files: 'small' });
  beforeAll(() => execCommand([ensureTools, 'ping'], { timeoutMs: 600_000 }), 600_000); // the kernel pings us
  const echoBytes = 4 << 20;
  let stack: Stack;
  let peer: KernelPeer;

  const linkOf = (b: Testbed) => ({ driver: 'packet', ifname: b.stackLink.stackIf, netns: b.namespaces.stack, vnetHdr: true });
  beforeAll(async () => {
    const b = bed();
    peer = await startKernelPeer(b.namespaces.peer, b.stackLink.peerIp, b.files.find((f) => f.name === '1MiB')!.path);
    stack = await createStack({ link: linkOf(b), address: `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`, layout: 'inline' });
  });
  afterAll(async () => {
    await stack?.close();
    await peer?.stop();
    for (const child of inlineChildren) if (child.exitCode === null && child.signalCode === null && child.pid) process.kill(child.pid, 'SIGKILL');
  });

  it('pings the kernel, and the kernel pings us', async () => {
    const b = bed();
    expect(await stack.ping(b.stackLink.peerIp, { count: 3, intervalMs: 10 })).toHaveLength(3);
    const r = await execInNamespace(b.namespaces.peer, ['ping', '-c', '3', '-i', '0.2', '-W', '2', b.stackLink.stackIp], { timeoutMs: 10_000 });
    expect(r.stdout.toString()).toMatch(/3 received/);
  });

  it(`our TCP client: ${echoBytes >> 20} MiB each way through a kernel echo server`, async () => {
    const socket = stack.connect({ host: peer.host, port: peer.ports.echo, allowHalfOpen: true });
    const { sent, received } = await echoThrough(socket, echoBytes);
    expect([received.bytes, received.sha256]).toEqual([echoBytes, sent]);
  }, 60_000);

  it(`a kernel client: ${echoBytes >> 20} MiB each way through our echo server`, async () => {
    const b = bed();
    const server = stack.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
    await new Promise<void>((resolve) => server.listen(7200, resolve));
    try {
      const { got, expected } = await kernelEchoClient(b.namespaces.peer, b.stackLink.stackIp, 7200, echoBytes);
      expect(got).toBe(expected);
    } finally {
      server.close();
    }
  }, 60_000);

  it('the watch survives the link going down and up (ENETDOWN on the socket): the kernel pings us again', async () => {
    const b = bed();
    await flapStackLink(b);
    // Nothing of ours runs meanwhile: only the fd watch can notice the kernel's echo requests.
    const r = await execInNamespace(b.namespaces.peer, ['ping', '-c', '3', '-i', '0.2', '-W', '2', b.stackLink.stackIp], { timeoutMs: 15_000, check: false });
    expect(r.stdout.toString()).toMatch(/3 received/);
  });

  /**
   * Runs test/fixtures/inline-kernel-child.ts. Resolves with its exit code and output, or with code 'alive' when
   * it is still running 3 s after it printed "pinged" (then it is killed).
   */
  function runChild(mode: 'close' | 'leave' | 'worker'): Promise<{ code: number | null | 'alive'; stdout: string; stderr: string }> {
    const b = bed();
    const child = spawn(process.execPath, [
      '--import', tsxPreload, childPath, mode, JSON.stringify(linkOf(b)), `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`, b.stackLink.peerIp,
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    inlineChildren.push(child);
    let stdout = '';
    let stderr = '';
    return new Promise((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      child.stdout!.on('data', (d: Buffer) => {
        stdout += d.toString();
        timer ??= stdout.includes('pinged') ? setTimeout(() => {
          process.kill(child.pid!, 'SIGKILL');
          resolve({ code: 'alive', stdout, stderr });
        }, 3000) : undefined;
      });
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
      child.once('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  it('the fd watch lives as long as the stack: closed, the process exits by itself; left open, it keeps it alive', async () => {
    // One at a time: the stack must be the link's only user (two would both answer ARP and pings).
    await stack.close();
    const closed = await runChild('close');
    expect(closed).toEqual({ code: 0, stdout: 'pinged\n', stderr: '' });
    const left = await runChild('leave');
    expect(left.stdout).toBe('pinged\n');
    expect(left.code).toBe('alive');
  }, 60_000);

  it('a worker thread that exits with its inline stack open ends cleanly (the watch is closed by a cleanup hook)', async () => {
    expect(await runChild('worker')).toEqual({ code: 0, stdout: 'pinged\nworker exited 0\n', stderr: '' });
  }, 30_000);
});
