// The native addon and the packet/tap drivers against the Linux kernel on the test bed (docs/TESTBED.md):
// frames the kernel sends arrive in a FrameRing with the right bytes, frames we write into a ring reach the kernel,
// from the test's thread and from worker threads, and offload state crosses as virtio-net headers both ways.
import { once } from 'node:events';
import type { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import type { LinkDevice, LinkRole } from '../src/link/device.js';
import { NO_OFFLOADS } from '../src/link/device.js';
import { NativeDevice, nativeOffloads } from '../src/link/native-device.js';
import { loadNative, nativeUnavailableReason, netnsPath, requireNative, tuneMalloc, type NativeBinding, type NativeCounters, type NativeHandle } from '../src/link/native.js';
import { firstEthernetInterface, packetDriver, type PacketLinkSpec } from '../src/link/packet.js';
import { tapDriver, tapPeerMac, type TapLinkSpec } from '../src/link/tap.js';
import { spawnWorker } from '../src/main/spawn-worker.js';
import { FRAME_CSUM_PARTIAL, FRAME_CSUM_VALID, FRAME_GSO_TCPV4, FrameRing } from '../src/shared-ring/index.js';
import { parseIpv4Address, parseMac, formatMac, readMac, writeMac } from '../src/wire/address.js';
import { TxStage } from '../src/workers/tx/tx-stage.js';
import { checksumAdd, checksumFold, partialChecksumSeed, pseudoHeaderSum } from '../src/wire/checksum.js';
import { describeWithTestbed, execInNamespace, isRoot, testbedName, useTestbed, type Testbed } from './helpers/testbed.js';

const ETH_ARP = 0x0806;
const ETH_IPV4 = 0x0800;
const BROADCAST = 0xffffffffffff;

interface CapturedFrame {
  bytes: Uint8Array;
  flags: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

const u16 = (b: Uint8Array, at: number): number => (b[at] << 8) | b[at + 1];
const u32 = (b: Uint8Array, at: number): number => ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
function put16(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 8;
  b[at + 1] = v;
}
function put32(b: Uint8Array, at: number, v: number): void {
  put16(b, at, v >>> 16);
  put16(b, at + 2, v & 0xffff);
}

/** Takes every published record out of `ring` (as its consumer) as copies. */
function drain(ring: FrameRing): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  for (let at = ring.peek(); at >= 0; at = ring.peek()) {
    frames.push({
      bytes: ring.bytes.slice(at, at + ring.frameLength),
      flags: ring.flags,
      gsoSize: ring.gsoSize,
      csumStart: ring.csumStart,
      csumOffset: ring.csumOffset,
    });
    ring.next();
  }
  ring.release();
  return frames;
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function describeFrame(f: CapturedFrame): string {
  return `${f.bytes.length}B type 0x${u16(f.bytes, 12).toString(16)} flags ${f.flags}`;
}

/**
 * Receives from `device` into `ring` (this thread is producer and consumer) until `want` has matched `count`
 * frames; sleeps in poll on the device's fd between batches. Every frame seen is returned.
 */
async function receiveUntil(
  device: LinkDevice,
  ring: FrameRing,
  want: (f: CapturedFrame) => boolean,
  timeoutMs: number,
  count = 1,
): Promise<{ matched: CapturedFrame[]; seen: CapturedFrame[] }> {
  const binding = requireNative('the test');
  const matched: CapturedFrame[] = [];
  const seen: CapturedFrame[] = [];
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (device.wait.kind === 'fd') binding.pollFd(device.wait.fd, -1, 20);
    if (device.receive(ring, 64, 0) > 0) ring.publish();
    for (const f of drain(ring)) {
      seen.push(f);
      if (want(f)) matched.push(f);
    }
    if (matched.length >= count) return { matched, seen };
    await tick();
  }
  throw new Error(
    `${matched.length}/${count} matching frames in ${timeoutMs} ms; saw ${seen.length}: ` +
      seen.slice(0, 10).map(describeFrame).join(', '),
  );
}

/** Waits until some frame in the ring `ring` (consumer side, filled by another thread) matches. */
async function consumeUntil(ring: FrameRing, want: (f: CapturedFrame) => boolean, timeoutMs: number): Promise<CapturedFrame> {
  const deadline = Date.now() + timeoutMs;
  const seen: CapturedFrame[] = [];
  while (Date.now() < deadline) {
    for (const f of drain(ring)) {
      if (want(f)) return f;
      seen.push(f);
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`no matching frame in ${timeoutMs} ms; saw ${seen.length}: ${seen.slice(0, 10).map(describeFrame).join(', ')}`);
}

// ---- frames built and read by hand (RFC 826 ARP, RFC 791 IPv4, RFC 792 ICMP, RFC 9293 TCP) ----

function arpFrame(op: 1 | 2, ethDst: number, senderMac: number, senderIp: number, targetMac: number, targetIp: number): Uint8Array {
  const b = new Uint8Array(60); // padded to the Ethernet minimum
  writeMac(b, 0, ethDst);
  writeMac(b, 6, senderMac);
  put16(b, 12, ETH_ARP);
  put16(b, 14, 1); // hardware: Ethernet
  put16(b, 16, ETH_IPV4);
  b[18] = 6;
  b[19] = 4;
  put16(b, 20, op);
  writeMac(b, 22, senderMac);
  put32(b, 28, senderIp);
  writeMac(b, 32, targetMac);
  put32(b, 38, targetIp);
  return b;
}

function isArpRequestFor(f: CapturedFrame, targetIp: number): boolean {
  const b = f.bytes;
  return b.length >= 42 && u16(b, 12) === ETH_ARP && u16(b, 20) === 1 && u32(b, 38) === targetIp;
}

function isEchoRequestTo(f: CapturedFrame, mac: number, ip: number): boolean {
  const b = f.bytes;
  return b.length >= 42 && readMac(b, 0) === mac && u16(b, 12) === ETH_IPV4 && b[23] === 1 && u32(b, 30) === ip && b[34] === 8;
}

function isTcp(f: CapturedFrame): boolean {
  return f.bytes.length >= 54 && u16(f.bytes, 12) === ETH_IPV4 && f.bytes[23] === 6;
}

/** Sends `frames` through `device` from a ring of our own. */
function transmitFrames(device: LinkDevice, frames: readonly Uint8Array[]): void {
  const ring = FrameRing.create(1 << 16);
  for (const frame of frames) expect(ring.push(frame)).toBe(true);
  ring.publish();
  expect(device.transmit(ring, 64, 0)).toBe(frames.length);
  ring.release();
}

async function peerNeighbour(ns: string, ifname: string, ip: string): Promise<string> {
  const { stdout } = await execInNamespace(ns, ['ip', 'neigh', 'show', 'to', ip, 'dev', ifname], { timeoutMs: 5_000 });
  return stdout.toString();
}

async function flushNeighbours(ns: string, ifname: string): Promise<void> {
  await execInNamespace(ns, ['ip', 'neigh', 'flush', 'dev', ifname], { timeoutMs: 5_000 });
}

function ping(ns: string, ip: string): Promise<unknown> {
  // Nobody answers the echoes (there is no stack here): ping exits non-zero, which is expected.
  return execInNamespace(ns, ['ping', '-n', '-c', '4', '-i', '0.3', '-W', '1', ip], { timeoutMs: 15_000, check: false });
}

// ---- without root ----

const addonMissing = !isRoot() && loadNative() === null;
if (addonMissing) console.warn(`[native] skipping addon tests: the addon is unavailable here: ${nativeUnavailableReason()}`);

describe('native addon and link drivers (no root needed)', () => {
  it('picks the first Ethernet interface that is up for ifname auto, and names namespaces by path', () => {
    const lo = { name: 'lo', index: 1, mtu: 65536, mac: 0, up: true, loopback: true, ethernet: false };
    const down = { name: 'eth0', index: 2, mtu: 1500, mac: 2, up: false, loopback: false, ethernet: true };
    const ipip = { name: 'tun0', index: 3, mtu: 1480, mac: 0, up: true, loopback: false, ethernet: false };
    const eth1 = { name: 'eth1', index: 4, mtu: 1500, mac: 4, up: true, loopback: false, ethernet: true };
    expect(firstEthernetInterface([lo, down, ipip, eth1])?.name).toBe('eth1');
    expect(firstEthernetInterface([lo, down, ipip])).toBeUndefined();
    expect(netnsPath('rsbed-stack')).toBe('/var/run/netns/rsbed-stack');
    expect(netnsPath('/proc/1/ns/net')).toBe('/proc/1/ns/net');
    expect(netnsPath(undefined)).toBeNull();
  });

  it('frames the kernel refuses for now (EAGAIN) are offered again 1 ms later: no spin, no stall', () => {
    // A stand-in for the addon whose kernel queue is full until `room`: transmitFrames then leaves the cursor alone.
    let room = false;
    const binding = {
      transmitFrames: (_h: unknown, _ring: Uint8Array, cursor: Uint32Array) => (room ? ((cursor[0] = cursor[1]), 1) : 0),
    } as unknown as NativeBinding;
    const device = new NativeDevice(binding, {} as NativeHandle, { name: 'x', mtu: 1500, mac: 2, offloads: nativeOffloads('packet', true), receives: false });
    const ring = FrameRing.create(1 << 16);
    ring.push(new Uint8Array(60));
    ring.publish();
    const tx = new TxStage();
    tx.addInterface(1, device, ring);
    expect(tx.poll(100)).toBe(0);
    expect(tx.pollAt(100)).toBe(101); // a worker host sleeps until then, the inline scheduler sets a timer
    room = true;
    expect(tx.poll(101)).toBe(1);
    expect(tx.pollAt(101)).toBe(Infinity); // all taken: only the fd wakes us again
  });

  it('gives our end of a TAP cable a unicast MAC next to the kernel end, never equal to it', () => {
    expect(tapPeerMac(parseMac('02:aa:bb:cc:dd:e0'))).toBe(parseMac('02:aa:bb:cc:dd:e1'));
    expect(tapPeerMac(parseMac('02:aa:bb:cc:dd:e1'))).toBe(parseMac('02:aa:bb:cc:dd:e0'));
    expect(nativeOffloads('tap', false)).toEqual(NO_OFFLOADS);
    expect(nativeOffloads('packet', true).tso).toBe(true);
  });

  describe.skipIf(addonMissing)('with the addon', () => {
    it('loads in two worker threads at once and wakes a poll through an eventfd in each', async () => {
      const workers: Worker[] = [0, 1].map(() => spawnWorker(new URL('./fixtures/native-addon-worker.ts', import.meta.url)));
      try {
        const results = (await Promise.all(workers.map((w) => once(w, 'message')))).map(([m]) => m as Record<string, unknown>);
        for (const r of results) {
          expect(r).toMatchObject({ quiet: 0, woken: true, drained: 0 });
          expect(r.interfaces).toContain('lo');
        }
      } finally {
        await Promise.all(workers.map((w) => w.terminate()));
      }
    });

    it('refuses bad arguments with clear errors and keeps working', () => {
      const binding = requireNative('the test');
      expect(() => binding.packetOpen('no-such-if0', null)).toThrow(/packetOpen\(no-such-if0\).*No such device/);
      expect(() => binding.packetOpen('lo', '/nonexistent/netns')).toThrow(/open network namespace: No such file/);
      expect(() => binding.packetOpen('lo', null, { rxMode: 1 as 2 })).toThrow(/rxMode/);
      expect(() => binding.packetOpen('lo', null, { frameSize: 3000 })).toThrow(/powers of two/);
      expect(() => binding.handleInfo({} as never)).toThrow(/expected a handle/);
      expect(() => binding.pollFd(-1, -1, 0)).not.toThrow();
      const wake = binding.eventfdCreate();
      binding.eventfdClose(wake);
      expect(() => binding.eventfdClose(wake)).toThrow(/EBADF|Bad file/);
    });

    it('sets glibc malloc thresholds (process-wide, once) and refuses values mallopt cannot take', () => {
      const binding = requireNative('the test');
      expect(() => binding.mallocTune(-1, 0)).toThrow(/non-negative integers/);
      expect(() => binding.mallocTune(0, 2 ** 31)).toThrow(/below 2\^31/);
      expect(() => binding.mallocTune('1' as unknown as number, 0)).toThrow(/mallocTune/);
      const header = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header;
      const glibc = header.glibcVersionRuntime !== undefined;
      expect(binding.mallocTune(0, 0)).toBe(glibc); // nothing to change: in force exactly where mallopt is glibc's
      expect(tuneMalloc()).toBe(glibc);
      expect(tuneMalloc()).toBe(glibc); // a second call changes nothing
    });
  });
});

// ---- against the kernel ----

describeWithTestbed('packet and tap links against the Linux kernel', () => {
  const bed = useTestbed({ name: testbedName('nat'), tap: true, files: 'small' });

  for (const rxRing of ['v2', 'v3', 'recvmmsg'] as const) {
    it(`packet (${rxRing}): the kernel's ARP request arrives intact, our reply reaches its neighbour table`, async () => {
      const { namespaces, stackLink, mtu } = bed();
      const stackMac = parseMac(stackLink.stackMac);
      const stackIp = parseIpv4Address(stackLink.stackIp);
      const spec: PacketLinkSpec = { driver: 'packet', ifname: 'auto', netns: namespaces.stack, rxRing };
      const device = await packetDriver.create(spec, 'both');
      const ring = FrameRing.create(1 << 20);
      try {
        expect(device.name).toBe(stackLink.stackIf);
        expect(device.mac).toBe(stackMac);
        expect(device.mtu).toBe(mtu);
        expect(device.wait.kind).toBe('fd');
        await flushNeighbours(namespaces.peer, stackLink.peerIf);
        const pinging = ping(namespaces.peer, stackLink.stackIp);
        const { matched } = await receiveUntil(device, ring, (f) => isArpRequestFor(f, stackIp), 5_000);
        const request = matched[0].bytes;
        expect(readMac(request, 0)).toBe(BROADCAST);
        expect(readMac(request, 6)).toBe(parseMac(stackLink.peerMac));
        expect(readMac(request, 22)).toBe(parseMac(stackLink.peerMac));
        expect(u32(request, 28)).toBe(parseIpv4Address(stackLink.peerIp));

        transmitFrames(device, [
          arpFrame(2, parseMac(stackLink.peerMac), stackMac, stackIp, parseMac(stackLink.peerMac), parseIpv4Address(stackLink.peerIp)),
        ]);
        // With our MAC learnt, the kernel sends its echo requests to it.
        await receiveUntil(device, ring, (f) => isEchoRequestTo(f, stackMac, stackIp), 5_000);
        expect(await peerNeighbour(namespaces.peer, stackLink.peerIf, stackLink.stackIp)).toContain(`lladdr ${formatMac(stackMac)}`);
        const counters = device.counters() as unknown as NativeCounters;
        expect(counters.txFrames).toBe(1);
        expect(counters.rxFrames).toBeGreaterThanOrEqual(2);
        expect(counters.rxTruncated + counters.rxOversize + counters.txErrors).toBe(0);
        await pinging;
      } finally {
        device.close();
      }
    });
  }

  it('wraps around a small frame ring both ways, in order, losing nothing while the ring is full', async () => {
    const { namespaces, stackLink } = bed();
    const ETH_EXPERIMENTAL = 0x88b5; // IEEE 802 local experimental: the kernel ignores it
    const frames = Array.from({ length: 60 }, (_, i) => {
      const b = new Uint8Array(60 + ((i * 397) % 1400));
      writeMac(b, 0, parseMac(stackLink.stackMac));
      writeMac(b, 6, parseMac(stackLink.peerMac));
      put16(b, 12, ETH_EXPERIMENTAL);
      put16(b, 14, i);
      for (let k = 16; k < b.length; k++) b[k] = (k + i) & 0xff;
      return b;
    });
    const sender = await packetDriver.create({ driver: 'packet', ifname: stackLink.peerIf, netns: namespaces.peer }, 'transmit');
    const receiver = await packetDriver.create({ driver: 'packet', ifname: stackLink.stackIf, netns: namespaces.stack }, 'receive');
    try {
      // Transmit side: JavaScript writes the wrap markers of a 4 KiB ring, the addon steps over them.
      const txRing = FrameRing.create(4096);
      let queued = 0;
      while (queued < frames.length) {
        while (queued < frames.length && txRing.push(frames[queued])) queued++;
        txRing.publish();
        expect(sender.transmit(txRing, 64, 0)).toBeGreaterThan(0);
        txRing.release();
      }
      // Receive side: the addon writes the wrap markers; we take one frame per batch, so the ring is often full.
      const rxRing = FrameRing.create(4096);
      const got: Uint8Array[] = [];
      const deadline = Date.now() + 5_000;
      while (got.length < frames.length && Date.now() < deadline) {
        if (receiver.wait.kind === 'fd') requireNative('the test').pollFd(receiver.wait.fd, -1, 10);
        if (receiver.receive(rxRing, 64, 0) > 0) rxRing.publish();
        const at = rxRing.peek();
        if (at >= 0) {
          if (u16(rxRing.bytes, at + 12) === ETH_EXPERIMENTAL) got.push(rxRing.bytes.slice(at, at + rxRing.frameLength));
          rxRing.next();
          rxRing.release();
        }
      }
      expect(got.map((b) => u16(b, 14))).toEqual(frames.map((_, i) => i));
      got.forEach((b, i) => expect(b).toEqual(frames[i]));
      const counters = receiver.counters() as unknown as NativeCounters;
      expect(counters.rxKernelDrops + counters.rxTruncated + counters.rxOversize).toBe(0);
    } finally {
      sender.close();
      receiver.close();
    }
  });

  for (const vnetHdr of [false, true]) {
    it(`tap${vnetHdr ? ' with vnet headers' : ''}: the same exchange with the kernel through its TAP device`, async () => {
      const { namespaces, tap } = bed();
      if (!tap) throw new Error('the bed was asked for a TAP device');
      const stackIp = parseIpv4Address(tap.stackIp);
      const spec: TapLinkSpec = { driver: 'tap', name: tap.ifName, netns: namespaces.peer, vnetHdr };
      const device = await tapDriver.create(spec, 'both');
      const ring = FrameRing.create(1 << 20);
      try {
        const kernelMac = requireNative('the test').interfaceInfo(tap.ifName, netnsPath(namespaces.peer)).mac;
        expect(device.mac).toBe(tapPeerMac(kernelMac));
        await flushNeighbours(namespaces.peer, tap.ifName);
        const pinging = ping(namespaces.peer, tap.stackIp);
        const { matched } = await receiveUntil(device, ring, (f) => isArpRequestFor(f, stackIp), 5_000);
        expect(readMac(matched[0].bytes, 22)).toBe(kernelMac);
        expect(u32(matched[0].bytes, 28)).toBe(parseIpv4Address(tap.peerIp));
        transmitFrames(device, [arpFrame(2, kernelMac, device.mac, stackIp, kernelMac, parseIpv4Address(tap.peerIp))]);
        await receiveUntil(device, ring, (f) => isEchoRequestTo(f, device.mac, stackIp), 5_000);
        expect(await peerNeighbour(namespaces.peer, tap.ifName, tap.stackIp)).toContain(`lladdr ${formatMac(device.mac)}`);
        expect(device.offloads.tso).toBe(vnetHdr);
        await pinging;
      } finally {
        device.close();
      }
    });
  }

  it('packet in worker threads: one receives, one transmits, each opening its socket in the bed from its own thread', async () => {
    const { namespaces, stackLink } = bed();
    const stackMac = parseMac(stackLink.stackMac);
    const stackIp = parseIpv4Address(stackLink.stackIp);
    const rxRing = FrameRing.create(1 << 20);
    const txRing = FrameRing.create(1 << 16);
    const spec: PacketLinkSpec = { driver: 'packet', ifname: stackLink.stackIf, netns: namespaces.stack };
    const start = (role: LinkRole, ring: FrameRing): { worker: Worker; control: Int32Array } => {
      const control = new Int32Array(new SharedArrayBuffer(8));
      const worker = spawnWorker(new URL('./fixtures/native-link-worker.ts', import.meta.url), {
        workerData: { spec, role, ring: ring.buffer, control: control.buffer },
      });
      return { worker, control };
    };
    const receiver = start('receive', rxRing);
    const sender = start('transmit', txRing);
    try {
      const errors = Promise.race([receiver, sender].map(({ worker }) => once(worker, 'error').then(([e]) => Promise.reject(e as Error))));
      errors.catch(() => {});
      for (const { control } of [receiver, sender]) {
        while (Atomics.load(control, 1) === 0) await Promise.race([new Promise((r) => setTimeout(r, 10)), errors]);
      }
      await flushNeighbours(namespaces.peer, stackLink.peerIf);
      const pinging = ping(namespaces.peer, stackLink.stackIp);
      await Promise.race([consumeUntil(rxRing, (f) => isArpRequestFor(f, stackIp), 5_000), errors]);
      const reply = arpFrame(2, parseMac(stackLink.peerMac), stackMac, stackIp, parseMac(stackLink.peerMac), parseIpv4Address(stackLink.peerIp));
      expect(txRing.push(reply)).toBe(true);
      txRing.publish();
      await Promise.race([consumeUntil(rxRing, (f) => isEchoRequestTo(f, stackMac, stackIp), 5_000), errors]);
      const reports = [receiver, sender].map(({ worker }) => once(worker, 'message').then(([m]) => m as { frames: number; wait: string }));
      for (const { control } of [receiver, sender]) Atomics.store(control, 0, 1);
      const [received, sent] = await Promise.all(reports);
      expect(received.frames).toBeGreaterThanOrEqual(2);
      expect(received.wait).toBe('fd');
      expect(sent.frames).toBe(1);
      expect(sent.wait).toBe('none');
      await pinging;
    } finally {
      await Promise.all([receiver, sender].map(({ worker }) => worker.terminate()));
    }
  });

  it('receives a kernel TCP stream as GSO super-frames with partial checksums (vnet headers), or whole frames without', async () => {
    const { namespaces, kclientLink, mtu, files } = bed();
    const file = files.find((f) => f.name === '1MiB');
    if (!file) throw new Error('the bed has no 1MiB file');
    const netns = namespaces.kclient;
    const withVnet = await packetDriver.create({ driver: 'packet', ifname: kclientLink.clientIf, netns, vnetHdr: true }, 'receive');
    const plain = await packetDriver.create({ driver: 'packet', ifname: kclientLink.clientIf, netns, rxRing: 'v3' }, 'receive');
    const vnetRing = FrameRing.create(1 << 23);
    const plainRing = FrameRing.create(1 << 23);
    try {
      expect(withVnet.offloads).toMatchObject({ rxChecksum: true, gro: true, tso: true });
      // Download as the kernel client: the peer's data segments cross the kclient veth towards our sockets.
      const download = execInNamespace(netns, ['curl', '-sS', '-o', '/dev/null', `ftp://${kclientLink.peerIp}/${file.name}`], {
        timeoutMs: 20_000,
      });
      const isSuperFrame = (f: CapturedFrame): boolean => isTcp(f) && f.bytes.length > mtu + 14;
      const [{ matched: big }] = await Promise.all([
        receiveUntil(withVnet, vnetRing, (f) => isSuperFrame(f) && (f.flags & FRAME_GSO_TCPV4) !== 0, 15_000),
        download,
      ]);
      const f = big[0];
      expect(u16(f.bytes, 16)).toBe(f.bytes.length - 14); // IPv4 total length covers the whole super-frame
      expect(f.gsoSize).toBeGreaterThan(0);
      expect(f.gsoSize).toBeLessThanOrEqual(mtu - 40);
      expect(f.flags & FRAME_CSUM_PARTIAL).toBe(FRAME_CSUM_PARTIAL);
      expect(f.csumStart).toBe(14 + (f.bytes[14] & 0x0f) * 4);
      expect(f.csumOffset).toBe(16);
      const { matched: whole } = await receiveUntil(plain, plainRing, isSuperFrame, 5_000);
      // Without vnet headers: no GSO state, but the kernel's "checksum never computed" is kept as trusted.
      expect(whole[0].flags).toBe(FRAME_CSUM_VALID);
      expect(whole[0].gsoSize).toBe(0);
    } finally {
      withVnet.close();
      plain.close();
    }
  });
});

describeWithTestbed('packet link receive batches and in-place reading', () => {
  const bed = useTestbed({ name: testbedName('nip'), files: 'small' });

  it('bounds a receive batch of super-frames by bytes; what the budget leaves stays queued for the next call', async () => {
    const { namespaces, kclientLink, files } = bed();
    const file = files.find((f) => f.name === '1MiB');
    if (!file) throw new Error('the bed has no 1MiB file');
    const netns = namespaces.kclient;
    const device = await packetDriver.create({ driver: 'packet', ifname: kclientLink.clientIf, netns }, 'receive');
    try {
      // The whole download queues in the kernel's ring (1024 slots) before we read any of it.
      await execInNamespace(netns, ['curl', '-sS', '-o', '/dev/null', `ftp://${kclientLink.peerIp}/${file.name}`], { timeoutMs: 20_000 });
      const ring = FrameRing.create(1 << 23);
      expect(device.receive(ring, 64, 0, 100_000)).toBeGreaterThan(0);
      expect(ring.producerPosition()).toBeLessThanOrEqual(100_000);
      const rest = FrameRing.create(1 << 23);
      device.receive(rest, 1024, 0);
      expect(rest.producerPosition()).toBeGreaterThan(900_000); // the rest of the 1 MiB
    } finally {
      device.close();
    }
  });

  it('parses the TPACKET_V2 ring where the kernel wrote it: super-frames with their offload flags, wrapping, and an empty ring once closed', async () => {
    const { namespaces, kclientLink, mtu, files } = bed();
    const file = files.find((f) => f.name === '1MiB');
    if (!file) throw new Error('the bed has no 1MiB file');
    const netns = namespaces.kclient;
    // Eight slots: the download's ~20 frames wrap the ring. A full ring drops frames for us only (a tap on the link).
    const spec: PacketLinkSpec = { driver: 'packet', ifname: kclientLink.clientIf, netns, vnetHdr: true, frameCount: 8 };
    const device = await packetDriver.create(spec, 'receive');
    const source = device.directReceive?.();
    if (!source) throw new Error('a V2 packet device offers no in-place reader');
    let frames = 0;
    let superFrames = 0;
    try {
      let finished = false;
      const download = execInNamespace(netns, ['curl', '-sS', '-o', '/dev/null', `ftp://${kclientLink.peerIp}/${file.name}`], { timeoutMs: 20_000 })
        .finally(() => (finished = true));
      while (!finished || source.peek() >= 0) {
        const at = source.peek();
        if (at < 0) {
          source.release(); // the end of a batch: the slots read go back to the kernel
          await new Promise((r) => setTimeout(r, 0));
          continue;
        }
        const b = source.bytes;
        frames++;
        if (u16(b, at + 12) === ETH_IPV4) expect(u16(b, at + 16)).toBe(source.frameLength - 14); // IPv4 total length
        if (source.frameLength > mtu + 14) {
          superFrames++;
          expect(source.flags & (FRAME_GSO_TCPV4 | FRAME_CSUM_PARTIAL)).toBe(FRAME_GSO_TCPV4 | FRAME_CSUM_PARTIAL);
        }
        source.next();
        if (frames % 16 === 0) source.release();
      }
      await download;
      expect(superFrames).toBeGreaterThan(0);
      expect(frames).toBeGreaterThan(8);
      expect(device.counters()['rxReadInPlace']).toBe(frames);
    } finally {
      device.close();
    }
    // The socket is gone but the reader's memory stays valid: it reads as an empty ring.
    expect(source.peek()).toBe(-1);
    expect(device.directReceive?.()).toBeNull();
  });
});

describeWithTestbed('packet link with the veth offloads off', () => {
  const bed = useTestbed({ name: testbedName('nao'), offloads: 'off', files: 'none' });

  it('sends a TCPv4 super-frame with a vnet header: the kernel cuts it into MSS segments with correct checksums', async () => {
    const { namespaces, stackLink } = bed();
    const stackMac = parseMac(stackLink.stackMac);
    const peerMac = parseMac(stackLink.peerMac);
    const src = parseIpv4Address(stackLink.stackIp);
    const dst = parseIpv4Address(stackLink.peerIp);
    const sender = await packetDriver.create({ driver: 'packet', ifname: stackLink.stackIf, netns: namespaces.stack, vnetHdr: true }, 'transmit');
    const capture = await packetDriver.create({ driver: 'packet', ifname: stackLink.peerIf, netns: namespaces.peer, rxRing: 'recvmmsg' }, 'receive');
    const captureRing = FrameRing.create(1 << 20);
    try {
      const mss = 1000;
      const payload = Uint8Array.from({ length: 3 * mss }, (_, i) => (i * 7 + 3) & 0xff);
      const tcpLen = 20 + payload.length;
      const frame = new Uint8Array(14 + 20 + tcpLen);
      writeMac(frame, 0, peerMac);
      writeMac(frame, 6, stackMac);
      put16(frame, 12, ETH_IPV4);
      frame[14] = 0x45;
      put16(frame, 16, 20 + tcpLen);
      put16(frame, 18, 0x1234);
      put16(frame, 20, 0x4000); // DF
      frame[22] = 64;
      frame[23] = 6;
      put32(frame, 26, src);
      put32(frame, 30, dst);
      put16(frame, 24, checksumFold(checksumAdd(frame, 14, 20, 0)));
      put16(frame, 34, 40000);
      put16(frame, 36, 9);
      put32(frame, 38, 0x01020304);
      put32(frame, 42, 0x0a0b0c0d);
      frame[46] = 5 << 4;
      frame[47] = 0x18; // PSH | ACK
      put16(frame, 48, 65535);
      // CSUM_PARTIAL: the field holds the pseudo-header sum over the whole super-frame's TCP length (as Linux does).
      put16(frame, 50, partialChecksumSeed(pseudoHeaderSum(src, dst, 6, tcpLen)));
      frame.set(payload, 54);
      const ring = FrameRing.create(1 << 16);
      const at = ring.reserve(frame.length);
      ring.bytes.set(frame, at);
      ring.commit(frame.length, FRAME_CSUM_PARTIAL | FRAME_GSO_TCPV4, 0, mss, 34, 16);
      ring.publish();
      expect(sender.transmit(ring, 8, 0)).toBe(1);
      ring.release();

      const ours = (f: CapturedFrame): boolean => isTcp(f) && u16(f.bytes, 34) === 40000;
      const { matched } = await receiveUntil(capture, captureRing, ours, 5_000, 3);
      const received: number[] = [];
      matched.forEach((f, i) => {
        const b = f.bytes;
        expect(b.length).toBe(14 + 40 + mss);
        expect(u16(b, 16)).toBe(40 + mss);
        expect(checksumFold(checksumAdd(b, 14, 20, 0))).toBe(0); // IPv4 header checksum
        const pseudo = pseudoHeaderSum(u32(b, 26), u32(b, 30), 6, b.length - 34);
        expect(checksumFold(checksumAdd(b, 34, b.length - 34, pseudo))).toBe(0); // TCP checksum finished by the kernel
        expect(u32(b, 38)).toBe((0x01020304 + i * mss) >>> 0);
        received.push(...b.subarray(54));
      });
      expect(Uint8Array.from(received)).toEqual(payload);
      expect((sender.counters() as unknown as NativeCounters).txFrames).toBe(1);
    } finally {
      sender.close();
      capture.close();
    }
  });
});
