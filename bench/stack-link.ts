// Our TCP over real links against the Linux kernel, next to the kernel's own TCP on the same bed in the same run.
// For each MTU and peer offload setting (scripts/testbed.sh --mtu, --offloads) one bed is built; a Node program
// in the peer namespace serves a sink (counts what it gets) and a source (sends a prefix of the bed's 1 GiB file),
// and three clients move BYTES each way through it:
//   packet  — our stack on an AF_PACKET socket on the bed's veth (with and without PACKET_VNET_HDR),
//   tap     — our stack on the bed's TAP device (with and without IFF_VNET_HDR),
//   kernel  — Node's net in NAME-kclient over its own veth to the peer, with that veth's offloads set like the
//             stack veth's: the kernel's figure for the same MTU and offload setting.
// "out" is client → peer, "in" is peer → client. Frames/s and the mean frame size are our stack's link counters
// (a mean above the MTU means GSO super-frames crossed whole). "client CPU ms/GB" is the client process's CPU time
// (user + system, all its threads: our stage worker included) per 10^9 bytes moved; for the kernel's client it is
// its Node process, while the kernel's TCP work done in softirq context may be charged to either side.
// Then each of our stacks pings the peer (ICMP echo, back to back): RTT p50/p90, next to the kernel's `ping` from
// the kclient namespace (its average: ping prints no percentiles).
// Run as root: npx tsx bench/stack-link.ts
//   STACK_LINK_BENCH_MB=256  STACK_LINK_BENCH_MTUS=1500,9000  STACK_LINK_BENCH_OFFLOADS=on,off
//   STACK_LINK_BENCH_LAYOUT=single (a list, e.g. single,inline: each row runs every layout in turn, and again per
//   round)  STACK_LINK_BENCH_ROUNDS=1 (rounds per bed; the kernel's legs run once per round too)
//   STACK_LINK_BENCH_DRIVERS=packet,tap  STACK_LINK_BENCH_VNET=off,on  STACK_LINK_BENCH_PINGS=500 (0: no RTT)
//   STACK_LINK_BENCH_SOCKET_KB=256 (each TCP socket's rings; default: the stack's)
//   STACK_LINK_BENCH_TSO=on,off (with vnet headers: our TSO on send as the link offers it, and off by the link
//   spec's `tso: false`, A/B in one run; default on)
//   STACK_LINK_BENCH_PROCESS=child (each of our stacks in a new process, as the kernel's client; 'same': this one)
//   STACK_LINK_BENCH_MALLOC=tuned (our malloc settings for our stacks and the kernel's client; 'default': glibc's)
//   STACK_LINK_BENCH_WARMUP_MB=128 (each new stack moves this much each way, untimed, before its timed legs)
// Figures go to docs/PERFORMANCE.md ("TCP over packet and TAP against the kernel").
import { spawn } from 'node:child_process';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { MALLOC_MMAP_THRESHOLD_BYTES, MALLOC_TRIM_THRESHOLD_BYTES } from '../src/link/index.js';
import { HEAP_GROWING_PERCENT } from '../src/main/index.js';
import { createStack, type Stack, type StackLayout } from '../src/main/index.js';
import { patternChunk, startKernelPeer, type KernelPeer, type KernelPeerPorts } from '../test/helpers/kernel-peer.js';
import { execInNamespace, testbedDown, testbedName, testbedUp, type Testbed } from '../test/helpers/testbed.js';

// Not `<< 20`: 2048 MiB and more overflow 32 bits.
const BYTES = Number(process.env.STACK_LINK_BENCH_MB ?? 256) * 2 ** 20;
const MTUS = (process.env.STACK_LINK_BENCH_MTUS ?? '1500,9000').split(',').map(Number);
const OFFLOADS = (process.env.STACK_LINK_BENCH_OFFLOADS ?? 'on,off').split(',') as ('on' | 'off')[];
const LAYOUTS = (process.env.STACK_LINK_BENCH_LAYOUT ?? 'single').split(',') as StackLayout[];
const ROUNDS = Number(process.env.STACK_LINK_BENCH_ROUNDS ?? 1);
const PINGS = Number(process.env.STACK_LINK_BENCH_PINGS ?? 500);
const DRIVERS = (process.env.STACK_LINK_BENCH_DRIVERS ?? 'packet,tap').split(',') as ('packet' | 'tap')[];
const VNET = (process.env.STACK_LINK_BENCH_VNET ?? 'off,on').split(',').map((v) => v === 'on');
/** Each TCP socket's send and receive ring; undefined: the stack's default. */
const SOCKET_BUFFER = process.env.STACK_LINK_BENCH_SOCKET_KB ? Number(process.env.STACK_LINK_BENCH_SOCKET_KB) << 10 : undefined;
const TSO = (process.env.STACK_LINK_BENCH_TSO ?? 'on').split(',').map((v) => v === 'on');
/** 'tuned' (default): our stacks tune malloc (createStack's mallocTuning) and the kernel's client gets the same
 * settings; 'default': both run with glibc's. mallopt is process-wide and for good: one setting per run. */
const MALLOC = process.env.STACK_LINK_BENCH_MALLOC ?? 'tuned';
/** 'tuned' (default): our stacks set V8's heap growth (createStack's heapTuning) and the kernel's client is started
 * with the same flag; 'default': both run with V8's own. Also process-wide and for good. */
const HEAP = process.env.STACK_LINK_BENCH_HEAP ?? 'tuned';
/** 'child' (default): each of our stacks runs in a new process; 'same': all in this one. */
const SAME_PROCESS = process.env.STACK_LINK_BENCH_PROCESS === 'same';
const CHUNK = patternChunk(1 << 20);
/** Bytes each way through a new stack before its legs are timed (STACK_LINK_BENCH_WARMUP_MB, default 128). */
const WARMUP = Number(process.env.STACK_LINK_BENCH_WARMUP_MB ?? 128) * 2 ** 20;

interface Leg {
  ms: number;
  /** Our link's frames and bytes during the leg (null for the kernel's own client). */
  frames: number | null;
  frameBytes: number | null;
  /** CPU time (user + system) of the client's process during the leg: ours with its stage worker, or the kernel client's Node. */
  cpuMs: number;
}

/** This process's CPU time (user + system, all threads) in ms. */
function cpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/** Writes `bytes` to a sink connection, half-closes, and waits for the sink's "<bytes> <sha256>" answer. */
async function push(socket: Duplex, bytes = BYTES): Promise<number> {
  const t0 = performance.now();
  let reply = '';
  const answered = new Promise<void>((resolve, reject) => {
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  for (let sent = 0; sent < bytes; sent += CHUNK.length) {
    if (!socket.write(CHUNK)) await new Promise((r) => socket.once('drain', r));
  }
  socket.end();
  await answered;
  if (!reply.startsWith(`${bytes} `)) throw new Error(`sink answered ${JSON.stringify(reply.slice(0, 80))}`);
  return performance.now() - t0;
}

/** Asks a source connection for `bytes` and counts them until it closes. */
function pull(socket: Duplex, bytes = BYTES): Promise<number> {
  const t0 = performance.now();
  let got = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (d: Buffer) => (got += d.length));
    socket.once('end', () => (got === bytes ? resolve(performance.now() - t0) : reject(new Error(`source sent ${got} of ${bytes} bytes`))));
    socket.once('error', reject);
    socket.write(`${bytes}\n`);
  });
}

/** The same two legs with Node's net, run inside the kclient namespace. */
const KERNEL_CLIENT = String.raw`
const net = require('node:net');
const [host, sinkPort, sourcePort, bytes] = process.argv.slice(1).map((v, i) => (i === 0 ? v : Number(v)));
const chunk = Buffer.alloc(1 << 20, 7);
function push() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const s = net.connect({ host, port: sinkPort, allowHalfOpen: true }, async () => {
      for (let sent = 0; sent < bytes; sent += chunk.length) if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
      s.end();
    });
    let reply = '';
    s.on('data', (d) => (reply += d));
    s.on('end', () => (reply.startsWith(bytes + ' ') ? resolve(performance.now() - t0) : reject(new Error('sink: ' + reply))));
    s.on('error', reject);
  });
}
function pull() {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let got = 0;
    const s = net.connect({ host, port: sourcePort }, () => s.write(bytes + '\n'));
    s.on('data', (d) => (got += d.length));
    s.on('end', () => (got === bytes ? resolve(performance.now() - t0) : reject(new Error('source sent ' + got))));
    s.on('error', reject);
  });
}
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
(async () => {
  let c = cpu();
  const out = await push();
  const outCpu = cpu() - c;
  c = cpu();
  const inMs = await pull();
  console.log(JSON.stringify({ out, in: inMs, outCpu, inCpu: cpu() - c }));
})().catch((e) => { console.error(e.message); process.exit(1); });
`;

async function kernelLegs(bed: Testbed, peer: KernelPeer): Promise<{ out: Leg; in: Leg }> {
  // The kernel's client gets the malloc settings our stack applies to this process (createStack's mallocTuning),
  // through glibc's environment variables: both 'data' paths then allocate their Buffers from the same kind of heap.
  const malloc = MALLOC === 'tuned'
    ? ['env', `MALLOC_TRIM_THRESHOLD_=${MALLOC_TRIM_THRESHOLD_BYTES}`, `MALLOC_MMAP_THRESHOLD_=${MALLOC_MMAP_THRESHOLD_BYTES}`] : [];
  // And the same V8 heap growth (createStack's heapTuning).
  const heap = HEAP === 'tuned' ? [`--heap-growing-percent=${HEAP_GROWING_PERCENT}`] : [];
  const argv = [...malloc, process.execPath, ...heap, '-e', KERNEL_CLIENT, bed.kclientLink.peerIp, String(peer.ports.sink), String(peer.ports.source), String(BYTES)];
  const r = await execInNamespace(bed.namespaces.kclient, argv, { timeoutMs: 300_000 });
  const ms = JSON.parse(r.stdout.toString()) as { out: number; in: number; outCpu: number; inCpu: number };
  return {
    out: { ms: ms.out, frames: null, frameBytes: null, cpuMs: ms.outCpu },
    in: { ms: ms.in, frames: null, frameBytes: null, cpuMs: ms.inCpu },
  };
}

/**
 * Frames and bytes of interface 1: received as the rx stage counts them, sent as the tx stage does (in layout
 * `single` both stages report the one device, so the stages must not be summed).
 */
async function linkCounters(stack: Stack): Promise<{ rxFrames: number; rxBytes: number; txFrames: number; txBytes: number; truncated: number; txDropped: number }> {
  const { rx = {}, tx = {} } = (await stack.stats()).stages;
  return {
    rxFrames: rx['if1.rxFrames'] ?? 0,
    rxBytes: rx['if1.rxBytes'] ?? 0,
    txFrames: tx['if1.txFrames'] ?? 0,
    txBytes: tx['if1.txBytes'] ?? 0,
    truncated: (rx['if1.rxTruncated'] ?? 0) + (rx['if1.rxOversize'] ?? 0),
    txDropped: tx['if1.txDropped'] ?? 0,
  };
}

interface Rtt {
  p50: number;
  p90: number;
}

/** Back-to-back echo requests after 100 untimed ones; RTT percentiles in ms. */
async function pingRtt(stack: Stack, host: string): Promise<Rtt | null> {
  if (PINGS <= 0) return null;
  await stack.ping(host, { count: 100, intervalMs: 0 });
  const rtts = (await stack.ping(host, { count: PINGS, intervalMs: 0 })).sort((a, b) => a - b);
  if (rtts.length < PINGS) throw new Error(`${PINGS - rtts.length} of ${PINGS} pings unanswered`);
  return { p50: rtts[Math.floor(PINGS * 0.5)]!, p90: rtts[Math.floor(PINGS * 0.9)]! };
}

/** The kernel's own ICMP RTT over the kclient veth: `ping -i 0.002` (its average, ms). */
async function kernelPingMs(bed: Testbed): Promise<number | null> {
  if (PINGS <= 0) return null;
  const argv = ['ping', '-q', '-c', String(PINGS), '-i', '0.002', bed.kclientLink.peerIp];
  const r = await execInNamespace(bed.namespaces.kclient, argv, { timeoutMs: 60_000 });
  const m = /= [\d.]+\/([\d.]+)\//.exec(r.stdout.toString());
  return m ? Number(m[1]) : null;
}

interface StackLegsConfig {
  bed: Testbed;
  ports: KernelPeerPorts;
  layout: StackLayout;
  driver: 'packet' | 'tap';
  vnetHdr: boolean;
  tso: boolean;
}

interface StackLegs {
  out: Leg;
  in: Leg;
  truncated: number;
  txDropped: number;
  rtt: Rtt | null;
}

/** Our legs for one configuration, in this process: a new stack, its warm-up, out, in, pings. */
async function stackLegs({ bed, ports, layout, driver, vnetHdr, tso }: StackLegsConfig): Promise<StackLegs> {
  const peer = { ports };
  const stack = await createStack({
    link: driver === 'packet'
      ? { driver, ifname: bed.stackLink.stackIf, netns: bed.namespaces.stack, vnetHdr, tso }
      : { driver, name: bed.tap!.ifName, netns: bed.namespaces.peer, vnetHdr, tso },
    address: driver === 'packet' ? `${bed.stackLink.stackIp}/${bed.stackLink.prefixLength}` : `${bed.tap!.stackIp}/24`,
    layout,
    socketBufferBytes: SOCKET_BUFFER,
    mallocTuning: MALLOC === 'tuned',
    heapTuning: HEAP === 'tuned',
  });
  try {
    const host = driver === 'packet' ? bed.stackLink.peerIp : bed.tap!.peerIp;
    if (WARMUP > 0) {
      // Untimed, so that V8 has compiled the new stage worker's hot paths (bench/tcp.ts measured why).
      await push(stack.connect({ host, port: peer.ports.sink, allowHalfOpen: true }), WARMUP);
      await pull(stack.connect({ host, port: peer.ports.source, allowHalfOpen: true }), WARMUP);
    }
    const c0 = await linkCounters(stack);
    const cpu0 = cpuMs();
    const outMs = await push(stack.connect({ host, port: peer.ports.sink, allowHalfOpen: true }));
    const cpu1 = cpuMs();
    const c1 = await linkCounters(stack);
    const inMs = await pull(stack.connect({ host, port: peer.ports.source, allowHalfOpen: true }));
    const cpu2 = cpuMs();
    const c2 = await linkCounters(stack);
    return {
      out: { ms: outMs, frames: c1.txFrames - c0.txFrames, frameBytes: c1.txBytes - c0.txBytes, cpuMs: cpu1 - cpu0 },
      in: { ms: inMs, frames: c2.rxFrames - c1.rxFrames, frameBytes: c2.rxBytes - c1.rxBytes, cpuMs: cpu2 - cpu1 },
      truncated: c2.truncated,
      txDropped: c2.txDropped,
      rtt: await pingRtt(stack, host),
    };
  } finally {
    await stack.close();
  }
}

/**
 * The same in a process of its own, as the kernel's client has: every row starts from a fresh V8 (JIT state and
 * heap) rather than from what the rows before it left. A second stack in one process received 'data' events at
 * about twice the CPU per GB of the first: V8 kept starting incremental marking every ~30 ms, 33–42 collections
 * per 256 MiB instead of 8–12. The cause was V8's heap growth factor, which createStack's heapTuning now sets
 * (docs/PERFORMANCE.md, "Full collections in the 'data' path").
 */
function stackLegsInChild(config: StackLegsConfig): Promise<StackLegs> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, STACK_LINK_BENCH_CHILD: JSON.stringify(config) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 600_000);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !last.startsWith('{')) reject(new Error(`our legs' process ended (${String(code ?? signal)}): ${stdout.slice(-500)}`));
      else resolve(JSON.parse(last) as StackLegs);
    });
  });
}

function gbps(ms: number): number {
  return (BYTES * 8) / ms / 1e6;
}

function row(mtu: number, offloads: string, client: string, way: 'out' | 'in', leg: Leg, kernel: Leg, extra = ''): string {
  const kpps = leg.frames === null ? '–' : (leg.frames / leg.ms).toFixed(1);
  const mean = leg.frames === null || leg.frames === 0 ? '–' : Math.round(leg.frameBytes! / leg.frames).toString();
  const ratio = leg === kernel ? '1' : (gbps(leg.ms) / gbps(kernel.ms)).toFixed(2);
  const cpuPerGb = (leg.cpuMs / (BYTES / 1e9)).toFixed(0);
  return `| ${mtu} | ${offloads} | ${client} | ${way} | ${gbps(leg.ms).toFixed(2)} | ${ratio} | ${cpuPerGb} | ${kpps} | ${mean} | ${extra} |`;
}

/** The kclient veth gets the stack veth's offload setting, so the kernel's figure is for the same setting. */
async function setKclientOffloads(bed: Testbed, offloads: 'on' | 'off'): Promise<void> {
  const features = ['tso', 'gso', 'gro', 'tx', 'rx'].flatMap((f) => [f, offloads]);
  await execInNamespace(bed.namespaces.peer, ['ethtool', '-K', bed.kclientLink.peerIf, ...features], { timeoutMs: 10_000 });
  await execInNamespace(bed.namespaces.kclient, ['ethtool', '-K', bed.kclientLink.clientIf, ...features], { timeoutMs: 10_000 });
}

async function main(): Promise<void> {
  console.log(
    `TCP against the kernel: ${BYTES / 2 ** 20} MiB each way per row, layouts ${LAYOUTS.join(', ')}, ${ROUNDS} round(s), malloc ${MALLOC}, heap ${HEAP}, socket buffers ${SOCKET_BUFFER === undefined ? 'default' : `${SOCKET_BUFFER >> 10} KiB`}, ${os.cpus().length} CPUs, ` +
      `load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, ${new Date().toISOString()}`,
  );
  console.log('| MTU | peer offloads | client | way | Gbit/s | × kernel | client CPU ms/GB | kpps (our link) | mean frame B | notes |');
  console.log('|---:|---|---|---|---:|---:|---:|---:|---:|---|');
  const name = testbedName('slb');
  const rtts: string[] = [];
  try {
    for (const mtu of MTUS) {
      for (const offloads of OFFLOADS) {
        const bed = await testbedUp({ name, mtu, offloads, tap: true, files: 'all' });
        await setKclientOffloads(bed, offloads);
        const gib = bed.files.find((f) => f.name === '1GiB');
        if (!gib || BYTES > gib.size) throw new Error(`STACK_LINK_BENCH_MB must be at most ${Math.floor((gib?.size ?? 0) / 2 ** 20)}`);
        const peer = await startKernelPeer(bed.namespaces.peer, '0.0.0.0', gib.path);
        try {
          for (let round = 1; round <= ROUNDS; round++) {
            const kernel = await kernelLegs(bed, peer);
            const kernelRtt = await kernelPingMs(bed);
            for (const way of ['out', 'in'] as const) console.log(row(mtu, offloads, `kernel (Node net)${ROUNDS > 1 ? `, round ${round}` : ''}`, way, kernel[way], kernel[way]));
            if (kernelRtt !== null) rtts.push(`| ${mtu} | ${offloads} | kernel ping (kclient veth), round ${round} | ${kernelRtt.toFixed(3)} (mean) | |`);
            for (const driver of DRIVERS) {
              for (const vnetHdr of VNET) {
                // Without vnet headers there is no TSO to switch off.
                for (const tso of vnetHdr ? TSO : [false]) {
                  for (const layout of LAYOUTS) {
                    const config: StackLegsConfig = { bed, ports: peer.ports, layout, driver, vnetHdr, tso };
                    const ours = SAME_PROCESS ? await stackLegs(config) : await stackLegsInChild(config);
                    const client = `ours ${layout}, ${driver}${vnetHdr ? ' + vnet hdr' : ''}${vnetHdr && TSO.length > 1 ? `, TSO ${tso ? 'on' : 'off'}` : ''}`;
                    const note = [
                      ours.truncated ? `${ours.truncated} frames too big for the rx path` : '',
                      ours.txDropped ? `${ours.txDropped} frames dropped by the kernel on send (ENOBUFS)` : '',
                    ].filter(Boolean).join('; ');
                    for (const way of ['out', 'in'] as const) console.log(row(mtu, offloads, client, way, ours[way], kernel[way], note));
                    if (ours.rtt) rtts.push(`| ${mtu} | ${offloads} | ${client}, round ${round} | ${ours.rtt.p50.toFixed(3)} | ${ours.rtt.p90.toFixed(3)} |`);
                  }
                }
              }
            }
          }
        } finally {
          await peer.stop();
        }
      }
    }
  } finally {
    await testbedDown(name);
  }
  if (rtts.length > 0) {
    console.log(`\nICMP echo RTT, ms (${PINGS} back to back after 100 untimed; the kernel's ping prints only its mean)`);
    console.log('| MTU | peer offloads | client | p50 | p90 |\n|---:|---|---|---:|---:|');
    for (const line of rtts) console.log(line);
  }
}

const CHILD_CONFIG = process.env.STACK_LINK_BENCH_CHILD;
if (CHILD_CONFIG !== undefined) {
  // One configuration's legs for the parent (stackLegsInChild): the result is the last line of stdout.
  console.log(JSON.stringify(await stackLegs(JSON.parse(CHILD_CONFIG) as StackLegsConfig)));
} else {
  await main();
}
