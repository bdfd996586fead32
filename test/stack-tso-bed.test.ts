import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../src/main/index.js';
import { prefixSha256, sendFilePrefix, startKernelPeer, type KernelPeer } from './helpers/kernel-peer.js';
import { describeWithTestbed, execInNamespace, testbedName, useTestbed, type Testbed } from './helpers/testbed.js';

// TSO on send against the Linux kernel: with vnet headers our protocol stage hands packet sockets and TAPs TCP
// super-frames (FRAME_GSO_TCPV4, up to 45 × 1448 B of text at MTU 1500) and the kernel cuts them. The bed's veths
// have their offloads off, so over `packet` the kernel must cut every super-frame in software (tcp_gso_segment)
// and finish each piece's checksum before the peer, which checks every checksum itself (rx offload off), gets
// them: the gso size, header length and checksum seed we give must all be right. Over `tap` the kernel takes each
// super-frame whole, as from a virtio NIC, and its TCP reads the gso size to learn our MSS. A prefix of the bed's
// 1 GiB file goes to a kernel sink that answers with its length and sha256.
const BYTES = 48 << 20;
const MTU = 1500;

/** Packets the kernel peer's interface `dev` received so far (`ip -s -j link`). */
async function receivedPackets(ns: string, dev: string): Promise<number> {
  const r = await execInNamespace(ns, ['ip', '-s', '-j', 'link', 'show', 'dev', dev], { timeoutMs: 10_000 });
  const [link] = JSON.parse(r.stdout.toString()) as { stats64?: { rx?: { packets?: number } } }[];
  const packets = link?.stats64?.rx?.packets;
  if (typeof packets !== 'number') throw new Error(`no rx packet count for ${dev} in ${r.stdout.toString().slice(0, 200)}`);
  return packets;
}

/** Our link's transmitted frames and bytes (the tx stage's device counters; layout single). */
async function sentFrames(stack: Stack): Promise<{ frames: number; bytes: number; superSegments: number }> {
  const { tx = {}, proto = {} } = (await stack.stats()).stages;
  return { frames: tx['if1.txFrames'] ?? 0, bytes: tx['if1.txBytes'] ?? 0, superSegments: proto.tcpSuperSegmentsOut ?? 0 };
}

describeWithTestbed(`TSO on send: ${BYTES >> 20} MiB from us to a kernel sink at MTU ${MTU}, vnet headers, bed offloads off`, () => {
  const bed = useTestbed({ name: testbedName('tso'), mtu: MTU, offloads: 'off', tap: true, files: 'all' });
  let file: string;
  let expected: string;

  beforeAll(async () => {
    const gib = bed().files.find((f) => f.name === '1GiB');
    if (!gib) throw new Error('the bed has no 1GiB test file');
    file = gib.path;
    expected = await prefixSha256(file, BYTES);
  }, 60_000);

  const links = [
    {
      name: 'packet',
      peerIp: (b: Testbed) => b.stackLink.peerIp,
      peerIf: (b: Testbed) => b.stackLink.peerIf,
      open: (b: Testbed) => createStack({
        link: { driver: 'packet', ifname: b.stackLink.stackIf, netns: b.namespaces.stack, vnetHdr: true },
        address: `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`, layout: 'single',
      }),
    },
    {
      name: 'tap',
      peerIp: (b: Testbed) => b.tap!.peerIp,
      peerIf: (b: Testbed) => b.tap!.ifName,
      open: (b: Testbed) => createStack({
        link: { driver: 'tap', name: b.tap!.ifName, netns: b.namespaces.peer, vnetHdr: true }, address: `${b.tap!.stackIp}/24`, layout: 'single',
      }),
    },
  ];

  for (const link of links) {
    describe(`over ${link.name}`, () => {
      let stack: Stack | undefined;
      let peer: KernelPeer | undefined;
      afterAll(async () => {
        await stack?.close();
        await peer?.stop();
      });

      it('the sink gets every byte intact, from super-frames far above the MTU', async () => {
        const b = bed();
        peer = await startKernelPeer(b.namespaces.peer, link.peerIp(b), file);
        stack = await link.open(b);
        const before = await sentFrames(stack);
        const peerBefore = await receivedPackets(b.namespaces.peer, link.peerIf(b));
        const socket = stack.connect({ host: peer.host, port: peer.ports.sink, allowHalfOpen: true });
        const { sent, peer: got } = await sendFilePrefix(socket, file, BYTES);
        expect(sent.sha256).toBe(expected);
        expect(got).toEqual({ bytes: BYTES, sha256: expected });
        const after = await sentFrames(stack);
        const peerPackets = (await receivedPackets(b.namespaces.peer, link.peerIf(b))) - peerBefore;
        const frames = after.frames - before.frames;
        const meanFrame = (after.bytes - before.bytes) / frames;
        console.log(
          `[tso] ${link.name}: ${frames} frames of ${meanFrame.toFixed(0)} B on average, ${after.superSegments - before.superSegments} ` +
            `super-segments; the peer's ${link.peerIf(b)} received ${peerPackets} packets; ${(sent.bytes * 8 / sent.ms / 1e6).toFixed(2)} Gbit/s`,
        );
        expect(after.superSegments - before.superSegments).toBeGreaterThan(BYTES / 65536 / 2);
        expect(meanFrame).toBeGreaterThan(8 * (MTU + 14));
        expect(frames).toBeLessThan(BYTES / (MTU - 52) / 8);
        if (link.name === 'packet') {
          // The kernel cut them: the peer's veth (GRO off) counted MSS-sized packets, about one per 1448 B.
          expect(peerPackets).toBeGreaterThan(BYTES / (MTU - 52) * 0.95);
        }
      }, 120_000);
    });
  }
});
