import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../src/main/index.js';
import { prefixSha256, receivePrefix, sendFilePrefix, startKernelPeer, type KernelPeer, type TransferResult } from './helpers/kernel-peer.js';
import { describeWithTestbed, testbedName, useTestbed, type Testbed } from './helpers/testbed.js';

// Bulk TCP both ways between our stack and the Linux kernel, over `packet:` (the bed's veth) and `tap:` (its TAP
// device), at MTU 1500 and 9000: the bed's 1 GiB test file from us to a kernel sink and from a kernel source to us,
// each checked by sha256 (the bed's SHA256SUMS digest; the sink hashes what it got, we hash what we got).
// The peer keeps its default offloads (on), so over packet: we receive its GSO super-frames whole.
//
// All eight transfers of 1 GiB took 37–81 s here (0.7–2.8 Gbit/s each, docs/PERFORMANCE.md "Bulk and impaired
// transfers in the tests"), inside the few minutes this file may take. RINGSTACK_BULK_BYTES=N moves a prefix.
const GiB = 1 << 30;
const BULK_BYTES = Number(process.env.RINGSTACK_BULK_BYTES ?? GiB);
if (!Number.isSafeInteger(BULK_BYTES) || BULK_BYTES <= 0 || BULK_BYTES > GiB) {
  throw new RangeError(`RINGSTACK_BULK_BYTES must be 1..${GiB}, got ${String(process.env.RINGSTACK_BULK_BYTES)}`);
}
const TIMEOUT_MS = 60_000 + BULK_BYTES / 20_000; // ≥ 20 MB/s, or the transfer is broken rather than slow

function report(what: string, r: TransferResult): void {
  console.log(`[bulk] ${what}: ${r.bytes} B in ${r.ms.toFixed(0)} ms = ${((r.bytes * 8) / r.ms / 1e6).toFixed(2)} Gbit/s`);
}

for (const mtu of [1500, 9000]) {
  describeWithTestbed(`${BULK_BYTES >> 20} MiB each way against the kernel at MTU ${mtu}`, () => {
    const bed = useTestbed({ name: testbedName(mtu === 1500 ? 'bk' : 'bj'), mtu, tap: true, files: 'all' });
    let expected: string;
    let file: string;

    beforeAll(async () => {
      const gib = bed().files.find((f) => f.name === '1GiB');
      if (!gib || gib.size !== GiB) throw new Error('the bed has no 1GiB test file');
      file = gib.path;
      expected = BULK_BYTES === GiB ? gib.sha256 : await prefixSha256(file, BULK_BYTES);
    }, 60_000);

    const links = [
      {
        name: 'packet',
        peerNs: (b: Testbed) => b.namespaces.peer,
        peerIp: (b: Testbed) => b.stackLink.peerIp,
        open: (b: Testbed) =>
          createStack({ link: { driver: 'packet', ifname: b.stackLink.stackIf, netns: b.namespaces.stack }, address: `${b.stackLink.stackIp}/${b.stackLink.prefixLength}` }),
      },
      {
        name: 'tap',
        peerNs: (b: Testbed) => b.namespaces.peer,
        peerIp: (b: Testbed) => b.tap!.peerIp,
        open: (b: Testbed) => createStack({ link: { driver: 'tap', name: b.tap!.ifName, netns: b.namespaces.peer }, address: `${b.tap!.stackIp}/24` }),
      },
    ];
    for (const link of links) {
      describe(`over ${link.name}:`, () => {
        let stack: Stack;
        let peer: KernelPeer;
        beforeAll(async () => {
          const b = bed();
          peer = await startKernelPeer(link.peerNs(b), link.peerIp(b), file);
          stack = await link.open(b);
        });
        afterAll(async () => {
          await stack?.close();
          await peer?.stop();
        });

        it('the link has the bed\'s MTU', () => {
          expect(stack.interfaceList().find((i) => i.index !== 0)?.mtu).toBe(mtu);
        });

        it('from us to a kernel sink', async () => {
          const socket = stack.connect({ host: peer.host, port: peer.ports.sink, allowHalfOpen: true });
          const { sent, peer: got } = await sendFilePrefix(socket, file, BULK_BYTES);
          report(`${link.name} MTU ${mtu} send`, sent);
          expect(sent.sha256).toBe(expected);
          expect(got).toEqual({ bytes: BULK_BYTES, sha256: expected });
        }, TIMEOUT_MS);

        it('from a kernel source to us', async () => {
          const socket = stack.connect({ host: peer.host, port: peer.ports.source, allowHalfOpen: true });
          const got = await receivePrefix(socket, BULK_BYTES);
          report(`${link.name} MTU ${mtu} receive`, got);
          expect(got.bytes).toBe(BULK_BYTES);
          expect(got.sha256).toBe(expected);
          const counters = (await stack.stats()).stages;
          // Super-frames from a peer with offloads on must fit the receive path whole.
          const truncated = Object.entries(counters.rx ?? {}).filter(([k, v]) => /truncat|oversize/i.test(k) && v > 0);
          expect(truncated).toEqual([]);
          // In the default layout a packet link's frames are parsed where the kernel wrote them (PacketRxRing).
          if (link.name === 'packet') expect(counters.rx?.['if1.rxReadInPlace']).toBe(counters.rx?.['if1.rxFrames']);
        }, TIMEOUT_MS);
      });
    }
  });
}
