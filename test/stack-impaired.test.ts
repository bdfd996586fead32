import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStack, type Stack } from '../src/main/index.js';
import type { FaultOptions } from '../src/link/index.js';
import { prefixSha256, receivePrefix, sendFilePrefix, startKernelPeer, type KernelPeer, type TransferResult } from './helpers/kernel-peer.js';
import { describeWithTestbed, execInNamespace, testbedImpair, testbedName, testbedUnimpair, useTestbed } from './helpers/testbed.js';

// 64 MiB each way between our stack (packet:) and the kernel over a path with 1 % loss, 5 ms one-way delay and
// reordering, made two ways:
// - our link-layer fault injector alone, both directions (loss, delay and reorder of every frame we send and
//   receive);
// - loss on the kernel side (scripts/testbed.sh impair: 1 % of the frames arriving at the kernel peer dropped in
//   its raw PREROUTING — our data segments when we send, our ACKs when we receive) with the injector adding only
//   delay and reorder. This kernel has no netem (/work/shared/notes/impairment-on-this-kernel.md).
// The bed runs with offloads off, so each frame is one segment and "1 % of frames" is 1 % of segments (with GSO a
// lost frame would be a 64 KiB super-frame).
const BYTES = 64 << 20;
const TIMEOUT_MS = 150_000;
const LOSS = 0.01;
const DELAY_MS = 5;
const REORDER = 0.02;

function report(what: string, r: TransferResult): void {
  console.log(`[impaired] ${what}: ${r.bytes} B in ${r.ms.toFixed(0)} ms = ${((r.bytes * 8) / r.ms / 1e3).toFixed(1)} Mbit/s`);
}

/** Sums the fault injector's counters of every stage (`if1.faults.dropped`, ...) by the counter's last name. */
function faultCounts(stages: Readonly<Record<string, Readonly<Record<string, number>>>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const counters of Object.values(stages)) {
    for (const [key, value] of Object.entries(counters)) {
      const m = /^if1\.(.*(?:dropped|reordered|duplicated|corrupted))$/i.exec(key);
      if (m) out[m[1]!] = (out[m[1]!] ?? 0) + value;
    }
  }
  return out;
}

describeWithTestbed(`${BYTES >> 20} MiB each way under ${LOSS * 100} % loss, ${DELAY_MS} ms delay and reordering`, () => {
  const bed = useTestbed({ name: testbedName('imp'), offloads: 'off', files: 'all' });
  let peer: KernelPeer;
  let file: string;
  let expected: string;

  beforeAll(async () => {
    const b = bed();
    file = b.files.find((f) => f.name === '100MiB')!.path;
    expected = await prefixSha256(file, BYTES);
    peer = await startKernelPeer(b.namespaces.peer, b.stackLink.peerIp, file);
  }, 60_000);
  afterAll(async () => {
    await peer?.stop();
  });

  const cases: { name: string; faults: FaultOptions; kernelLoss: boolean }[] = [
    { name: 'our fault injector both ways', faults: { loss: LOSS, delayMs: DELAY_MS, reorder: REORDER, seed: 5, direction: 'both' }, kernelLoss: false },
    { name: 'loss on the kernel side, delay and reorder by our injector', faults: { delayMs: DELAY_MS, reorder: REORDER, seed: 6, direction: 'both' }, kernelLoss: true },
  ];
  for (const c of cases) {
    describe(c.name, () => {
      let stack: Stack;
      beforeAll(async () => {
        const b = bed();
        if (c.kernelLoss) await testbedImpair(b.name, { loss: LOSS, iface: 'stack' });
        stack = await createStack({
          link: { driver: 'packet', ifname: b.stackLink.stackIf, netns: b.namespaces.stack, faults: c.faults },
          address: `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`,
        });
      });
      afterAll(async () => {
        await stack?.close();
        if (c.kernelLoss) await testbedUnimpair(bed().name);
      });

      it('from us to a kernel sink', async () => {
        const socket = stack.connect({ host: peer.host, port: peer.ports.sink, allowHalfOpen: true });
        const { sent, peer: got } = await sendFilePrefix(socket, file, BYTES);
        report(`${c.name}: send`, sent);
        expect(sent.sha256).toBe(expected);
        expect(got).toEqual({ bytes: BYTES, sha256: expected });
      }, TIMEOUT_MS);

      it('from a kernel source to us', async () => {
        const socket = stack.connect({ host: peer.host, port: peer.ports.source, allowHalfOpen: true });
        const got = await receivePrefix(socket, BYTES);
        report(`${c.name}: receive`, got);
        expect(got.bytes).toBe(BYTES);
        expect(got.sha256).toBe(expected);
      }, TIMEOUT_MS);

      it('the impairments really happened', async () => {
        const counts = faultCounts((await stack.stats()).stages);
        console.log(`[impaired] ${c.name}: injector ${JSON.stringify(counts)}`);
        const total = (suffix: string): number => Object.entries(counts).filter(([k]) => k.toLowerCase().endsWith(suffix)).reduce((s, [, v]) => s + v, 0);
        expect(total('reordered')).toBeGreaterThan(50);
        if (c.kernelLoss) {
          expect(total('dropped')).toBe(0);
          const rules = await execInNamespace(bed().namespaces.peer, ['iptables', '-t', 'raw', '-L', 'RSBED_IMPAIR', '-v', '-n', '-x'], { timeoutMs: 5_000 });
          const drops = /^\s*(\d+)\s+\d+\s+DROP/m.exec(rules.stdout.toString());
          console.log(`[impaired] ${c.name}: kernel dropped ${drops?.[1] ?? '?'} packets`);
          expect(Number(drops?.[1] ?? 0)).toBeGreaterThan(100);
        } else {
          expect(total('dropped')).toBeGreaterThan(100);
        }
      });
    });
  }
});
