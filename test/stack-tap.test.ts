import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryWire, createStack, type Stack, type StackLayout } from '../src/main/index.js';
import { echoThrough, kernelEchoClient, startKernelPeer, type KernelPeer } from './helpers/kernel-peer.js';
import { describeWithTestbed, execCommand, execInNamespace, testbedName, useTestbed } from './helpers/testbed.js';

const ensureTools = fileURLToPath(new URL('../scripts/ensure-tools.sh', import.meta.url));

// Our stack on the bed's TAP device (NAME-t0 in NAME-peer, 198.18.1.1; we are 198.18.1.2) against the kernel, in
// every layout. A single-queue TAP has one fd: in `three` and `rx+proto` the rx and tx stages are different
// threads, so createStack opens the TAP once and both stages use that fd. `inline` runs the stages on this thread,
// on the real clock, whenever the event loop sees the TAP's fd readable.
const ECHO_BYTES = 4 << 20;

describe('kernel links and the inline layout', () => {
  it('createStack refuses a tap or packet link on a virtual clock, before opening anything', async () => {
    for (const link of [{ driver: 'tap', name: 'rsnone0' }, { driver: 'packet', ifname: 'rsnone0' }]) {
      await expect(createStack({ link, address: '198.18.1.2/24', layout: 'inline', clock: 'virtual' })).rejects.toThrow(
        new RegExp(`a ${link.driver} link needs the real clock`),
      );
    }
  });
});

describeWithTestbed('the stack on a TAP device against the Linux kernel', () => {
  const bed = useTestbed({ name: testbedName('tap'), tap: true, files: 'small' });
  beforeAll(() => execCommand([ensureTools, 'ping'], { timeoutMs: 600_000 }), 600_000); // the kernel pings us
  let peer: KernelPeer;

  beforeAll(async () => {
    const tap = bed().tap!;
    peer = await startKernelPeer(bed().namespaces.peer, tap.peerIp, bed().files.find((f) => f.name === '1MiB')!.path);
  });
  afterAll(async () => {
    await peer?.stop();
  });

  const variants: { layout: StackLayout; vnetHdr: boolean }[] = [
    { layout: 'three', vnetHdr: false },
    { layout: 'rx+proto', vnetHdr: false },
    { layout: 'single', vnetHdr: false },
    { layout: 'three', vnetHdr: true },
    { layout: 'inline', vnetHdr: false },
  ];
  for (const { layout, vnetHdr } of variants) {
    describe(`layout ${layout}${vnetHdr ? ', vnet headers' : ''}`, () => {
      let stack: Stack;
      beforeAll(async () => {
        const b = bed();
        stack = await createStack({
          link: { driver: 'tap', name: b.tap!.ifName, netns: b.namespaces.peer, vnetHdr },
          address: `${b.tap!.stackIp}/24`,
          layout,
        });
      });
      afterAll(async () => {
        await stack?.close();
      });

      it('resolves ARP and pings the kernel, and the kernel pings us', async () => {
        const b = bed();
        expect(await stack.ping(b.tap!.peerIp, { count: 3, intervalMs: 10 })).toHaveLength(3);
        const r = await execInNamespace(b.namespaces.peer, ['ping', '-c', '3', '-i', '0.2', '-W', '2', b.tap!.stackIp], { timeoutMs: 10_000 });
        expect(r.stdout.toString()).toMatch(/3 received/);
        // The kernel learned our MAC from ARP, on the TAP device.
        const neigh = await execInNamespace(b.namespaces.peer, ['ip', 'neigh', 'show', 'dev', b.tap!.ifName, b.tap!.stackIp], { timeoutMs: 5_000 });
        expect(neigh.stdout.toString()).toMatch(/lladdr ([0-9a-f]{2}:){5}[0-9a-f]{2}/);
      });

      it(`our TCP client: ${ECHO_BYTES >> 20} MiB each way through a kernel echo server`, async () => {
        const socket = stack.connect({ host: peer.host, port: peer.ports.echo, allowHalfOpen: true });
        const { sent, received } = await echoThrough(socket, ECHO_BYTES);
        expect(received.bytes).toBe(ECHO_BYTES);
        expect(received.sha256).toBe(sent);
      }, 60_000);

      it(`a kernel client: ${ECHO_BYTES >> 20} MiB each way through our echo server`, async () => {
        const b = bed();
        const server = stack.createServer({ allowHalfOpen: true }, (s) => s.pipe(s));
        await new Promise<void>((resolve) => server.listen(7200, resolve));
        try {
          const { got, expected } = await kernelEchoClient(b.namespaces.peer, b.tap!.stackIp, 7200, ECHO_BYTES);
          expect(got).toBe(expected);
        } finally {
          server.close();
        }
      }, 60_000);
    });
  }

  it('two inline stacks on one real clock share a scheduler: one on the TAP, one on the packet link, both served', async () => {
    const b = bed();
    const onTap = await createStack({ link: { driver: 'tap', name: b.tap!.ifName, netns: b.namespaces.peer }, address: `${b.tap!.stackIp}/24`, layout: 'inline' });
    const onPacket = await createStack({
      link: { driver: 'packet', ifname: b.stackLink.stackIf, netns: b.namespaces.stack, vnetHdr: true },
      address: `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`, gateway: b.stackLink.peerIp, layout: 'inline', // the peer listens on its TAP address
    });
    try {
      const [viaTap, viaPacket] = await Promise.all([
        echoThrough(onTap.connect({ host: peer.host, port: peer.ports.echo, allowHalfOpen: true }), 1 << 20),
        echoThrough(onPacket.connect({ host: peer.host, port: peer.ports.echo, allowHalfOpen: true }), 1 << 20),
        onTap.ping(b.tap!.peerIp, { count: 3, intervalMs: 10 }),
        onPacket.ping(b.stackLink.peerIp, { count: 3, intervalMs: 10 }),
      ]);
      expect([viaTap.received.sha256, viaPacket.received.sha256]).toEqual([viaTap.sent, viaPacket.sent]);
    } finally {
      await onTap.close();
      await onPacket.close();
    }
  }, 30_000);

  it('after a vnet-header opener left its offloads on the TAP, an opener without vnet headers still gets checksummed frames', async () => {
    const b = bed();
    const open = (vnetHdr: boolean) => createStack({
      link: { driver: 'tap', name: b.tap!.ifName, netns: b.namespaces.peer, vnetHdr }, address: `${b.tap!.stackIp}/24`, layout: 'single',
    });
    for (const vnetHdr of [true, false]) {
      const stack = await open(vnetHdr);
      try {
        // TCP, not ping: the kernel leaves TCP checksums partial for an offloading TAP, never ICMP's.
        const { sent, received } = await echoThrough(stack.connect({ host: peer.host, port: peer.ports.echo, allowHalfOpen: true }), 256 << 10);
        expect([received.bytes, received.sha256]).toEqual([256 << 10, sent]);
        if (!vnetHdr) expect((await stack.stats()).stages.rx?.dropBadChecksum ?? 0).toBe(0);
      } finally {
        await stack.close();
      }
    }
  }, 30_000);

  it('layout three: detaching the TAP closes the fd the stack opened for it, so it can be attached again', async () => {
    const b = bed();
    const link = { driver: 'tap', name: b.tap!.ifName, netns: b.namespaces.peer };
    // The stack's first link is one end of a memory wire (nothing on it); the TAP comes and goes as a second one.
    const [wireEnd] = createMemoryWire();
    const stack = await createStack({ link: wireEnd, address: '198.18.9.1/24', layout: 'three' });
    try {
      for (let round = 0; round < 2; round++) {
        const info = await stack.attach({ link, address: `${b.tap!.stackIp}/24` });
        expect(await stack.ping(b.tap!.peerIp, { count: 1, timeoutMs: 2000 })).toHaveLength(1);
        await stack.detach(info.index);
      }
      // A single-queue TAP takes one fd: a leaked one would make this open fail with EBUSY.
      const other = await createStack({ link, address: `${b.tap!.stackIp}/24`, layout: 'single' });
      await other.close();
    } finally {
      await stack.close();
    }
  }, 30_000);
});
