// Packet-link receive paths against each other: a transmit-only packet socket in the kernel peer's namespace
// blasts UDP frames at the stack's veth end, where a packet socket receives them into a frame ring through
// TPACKET_V2, TPACKET_V3 or recvmmsg; each side runs in its own worker thread, as stages do.
// Run as root: npx tsx bench/link.ts   (LINK_BENCH_MS, LINK_BENCH_SIZES=60,1514, LINK_BENCH_MODES=v2,v3,recvmmsg)
import { once } from 'node:events';
import os from 'node:os';
import type { Worker } from 'node:worker_threads';
import { spawnWorker } from '../src/main/spawn-worker.js';
import { checksumAdd, checksumFold } from '../src/wire/checksum.js';
import { parseIpv4Address, parseMac, writeMac } from '../src/wire/address.js';
import { testbedDown, testbedUp, type Testbed } from '../test/helpers/testbed.js';
import type { LinkBenchData, LinkBenchReport } from './link-worker.js';

const DURATION_MS = Number(process.env.LINK_BENCH_MS ?? 2000);
const SIZES = (process.env.LINK_BENCH_SIZES ?? '60,1514').split(',').map(Number);
const MODES = (process.env.LINK_BENCH_MODES ?? 'v2,v3,recvmmsg').split(',') as ('v2' | 'v3' | 'recvmmsg')[];
const BED = 'lkbench';

/** An Ethernet + IPv4 + UDP frame of `size` bytes from the peer to the stack's address. */
function udpFrame(bed: Testbed, size: number): Uint8Array {
  const b = new Uint8Array(size);
  const view = new DataView(b.buffer);
  writeMac(b, 0, parseMac(bed.stackLink.stackMac));
  writeMac(b, 6, parseMac(bed.stackLink.peerMac));
  view.setUint16(12, 0x0800);
  b[14] = 0x45;
  view.setUint16(16, size - 14);
  b[22] = 64;
  b[23] = 17;
  view.setUint32(26, parseIpv4Address(bed.stackLink.peerIp));
  view.setUint32(30, parseIpv4Address(bed.stackLink.stackIp));
  view.setUint16(24, checksumFold(checksumAdd(b, 14, 20, 0)));
  view.setUint16(34, 40000);
  view.setUint16(36, 9);
  view.setUint16(38, size - 34);
  return b;
}

function start(data: LinkBenchData): Worker {
  return spawnWorker(new URL('./link-worker.ts', import.meta.url), { workerData: data });
}

async function run(bed: Testbed, mode: 'v2' | 'v3' | 'recvmmsg', size: number): Promise<string> {
  const controls = [new Int32Array(new SharedArrayBuffer(8)), new Int32Array(new SharedArrayBuffer(8))];
  const receiver = start({
    role: 'receive',
    spec: { driver: 'packet', ifname: bed.stackLink.stackIf, netns: bed.namespaces.stack, rxRing: mode, frameCount: Number(process.env.LINK_BENCH_V2_FRAMES ?? 256), frameSize: Number(process.env.LINK_BENCH_V2_FRAME_SIZE ?? 65536) },
    control: controls[0].buffer as SharedArrayBuffer,
  });
  const sender = start({
    role: 'send',
    spec: { driver: 'packet', ifname: bed.stackLink.peerIf, netns: bed.namespaces.peer },
    frame: udpFrame(bed, size),
    control: controls[1].buffer as SharedArrayBuffer,
  });
  const reports = [receiver, sender].map((w) => once(w, 'message').then(([m]) => m as LinkBenchReport));
  for (const c of controls) while (Atomics.load(c, 1) === 0) await new Promise((r) => setTimeout(r, 5));
  const cpu = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((r) => setTimeout(r, DURATION_MS));
  Atomics.store(controls[1], 0, 1); // sender first, so the receiver drains what is in flight
  await new Promise((r) => setTimeout(r, 50));
  Atomics.store(controls[0], 0, 1);
  const [rx, tx] = await Promise.all(reports);
  const seconds = (performance.now() - t0) / 1000;
  const used = process.cpuUsage(cpu);
  const cores = (used.user + used.system) / 1e6 / seconds;
  const drops = Number(rx.counters.rxKernelDrops ?? 0);
  return `| ${mode} | ${size} | ${(tx.frames / seconds / 1e6).toFixed(3)} | ${(rx.frames / seconds / 1e6).toFixed(3)} | ${((rx.bytes * 8) / seconds / 1e9).toFixed(2)} | ${((100 * drops) / Math.max(1, tx.frames)).toFixed(1)} % | ${cores.toFixed(2)} |`;
}

const bed = await testbedUp({ name: BED, files: 'none' });
try {
  console.log(`packet link receive paths, ${DURATION_MS} ms each, ${os.cpus().length} CPUs, load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log('| rx path | frame B | sent Mpps | received Mpps | received Gbit/s | kernel drops | process cores |');
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const size of SIZES) for (const mode of MODES) console.log(await run(bed, mode, size));
} finally {
  await testbedDown(BED);
}
