// `pcap` on a link: the file a running stack writes is read by tshark and by test/pcap-reader.ts, and its frames
// are the ones that crossed the wire, intact, in both directions.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryWire, createStack, type Stack, type StackLayout, type UdpSocket } from '../src/main/index.js';
import {
  DropReason, ETHERTYPE_ARP, ETHERTYPE_IPV4, IPPROTO_ICMP, IPPROTO_UDP, createEthernetRepr, createIpv4Repr, createUdpRepr,
  formatIpv4Address, formatMac, parseEthernet, parseIpv4, parseUdp, pseudoHeaderSum,
} from '../src/wire/index.js';
import { readPcap } from './pcap-reader.js';
import { isRoot } from './helpers/testbed.js';

const run = promisify(execFile);
const ensureTools = fileURLToPath(new URL('../scripts/ensure-tools.sh', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ringstack-pcap-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** One captured frame as both readers can describe it. */
interface FrameSummary {
  length: number;
  ethSrc: string;
  ethDst: string;
  etherType: number;
  ipSrc: string;
  ipDst: string;
  protocol: number;
  udpSrcPort: number;
  udpDstPort: number;
  udpPayload: string;
}

/** Decodes a frame with our codecs, checksums verified: a corrupt record fails the test here. */
function summarize(frame: Uint8Array): FrameSummary {
  const eth = createEthernetRepr();
  expect(parseEthernet(frame, 0, frame.length, eth)).toBe(DropReason.Ok);
  const s: FrameSummary = {
    length: frame.length, ethSrc: formatMac(eth.src), ethDst: formatMac(eth.dst), etherType: eth.etherType,
    ipSrc: '', ipDst: '', protocol: 0, udpSrcPort: 0, udpDstPort: 0, udpPayload: '',
  };
  if (eth.etherType !== ETHERTYPE_IPV4) return s;
  const ip = createIpv4Repr();
  expect(parseIpv4(frame, eth.payloadOffset, eth.payloadLength, ip, true)).toBe(DropReason.Ok);
  Object.assign(s, { ipSrc: formatIpv4Address(ip.src), ipDst: formatIpv4Address(ip.dst), protocol: ip.protocol });
  if (ip.protocol !== IPPROTO_UDP) return s;
  const udp = createUdpRepr();
  expect(parseUdp(frame, ip.payloadOffset, ip.payloadLength, udp, pseudoHeaderSum(ip.src, ip.dst, IPPROTO_UDP, ip.payloadLength))).toBe(DropReason.Ok);
  s.udpSrcPort = udp.srcPort;
  s.udpDstPort = udp.dstPort;
  s.udpPayload = Buffer.from(frame.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength)).toString('hex');
  return s;
}

/** The same fields as tshark sees them (its own dissectors, checksum validation on). */
async function tsharkSummaries(file: string): Promise<FrameSummary[]> {
  const fields = ['frame.len', 'eth.src', 'eth.dst', 'eth.type', 'ip.src', 'ip.dst', 'ip.proto', 'udp.srcport', 'udp.dstport', 'udp.payload', 'udp.checksum.status', '_ws.malformed'];
  const { stdout } = await run('tshark', [
    '-n', '-r', file, '-o', 'udp.check_checksum:TRUE', '-o', 'ip.check_checksum:TRUE', '-T', 'fields', '-E', 'separator=\t',
    ...fields.flatMap((f) => ['-e', f]),
  ], { maxBuffer: 64 << 20 });
  return stdout.split('\n').filter((l) => l !== '').map((line) => {
    const [len, src, dst, type, ipSrc, ipDst, proto, sport, dport, data, udpStatus, malformed] = line.split('\t');
    expect(malformed).toBe('');
    if (sport) expect(udpStatus).toBe('1'); // PROTO_CHECKSUM_E_GOOD
    return {
      length: Number(len), ethSrc: src, ethDst: dst, etherType: Number(type), ipSrc, ipDst, protocol: proto ? Number(proto) : 0,
      udpSrcPort: sport ? Number(sport) : 0, udpDstPort: dport ? Number(dport) : 0, udpPayload: data.replace(/:/g, ''),
    };
  });
}

function listening(socket: UdpSocket): Promise<UdpSocket> {
  return new Promise((resolve, reject) => {
    socket.once('listening', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function captureRun(layout: StackLayout, file: string): Promise<{ sent: Buffer[]; startedMs: number; endedMs: number; macA: string; macB: string }> {
  const [a, b] = createMemoryWire();
  const startedMs = Date.now();
  const stacks: Stack[] = [];
  try {
    const A = await createStack({ link: a, address: '198.18.1.1/24', layout, pcap: file });
    stacks.push(A);
    const B = await createStack({ link: b, address: '198.18.1.2/24', layout });
    stacks.push(B);
    const echo = await listening(B.udp.bind(7));
    echo.on('message', (m, r) => echo.send(m, r.port, r.address));
    const client = await listening(A.udp.bind(5000));
    const sent: Buffer[] = [];
    let replies = 0;
    const allBack = new Promise<void>((resolve) => client.on('message', () => { if (++replies === 20) resolve(); }));
    expect(await A.ping('198.18.1.2', { count: 2, intervalMs: 1 })).toHaveLength(2);
    for (let i = 0; i < 20; i++) {
      const payload = Buffer.alloc(1 + i * 70, i);
      payload.write(`datagram ${i}`);
      sent.push(payload);
      client.send(payload, 7, '198.18.1.2');
      if (i % 5 === 4) await new Promise((r) => setTimeout(r, 2)); // several batches, so several pcap appends
    }
    await allBack;
    const macA = A.interfaceList()[1].mac, macB = B.interfaceList()[1].mac;
    return { sent, startedMs, endedMs: Date.now() + 1, macA, macB };
  } finally {
    // Closing the stack closes its devices, which flushes the writer.
    for (const s of stacks) await s.close();
  }
}

describe.each(['inline', 'three'] as const)('pcap on a link, layout %s', (layout) => {
  it('records every frame both ways; our reader and tshark agree with what was sent', async () => {
    const file = join(dir, `${layout.replace('+', '-')}.pcap`);
    const { sent, startedMs, endedMs, macA, macB } = await captureRun(layout, file);
    const pcap = readPcap(readFileSync(file));
    expect(pcap.linkType).toBe(1);
    const ours = pcap.packets.map((p) => {
      expect(p.originalLength).toBe(p.data.length);
      // Wall-clock timestamps (the stack clock's epoch plus its time), not ticks since start. Inline stacks run
      // on a virtual clock that jumps to timers, so only worker layouts must stay within the run's wall time.
      expect(p.time * 1000).toBeGreaterThanOrEqual(startedMs - 1);
      if (layout !== 'inline') expect(p.time * 1000).toBeLessThanOrEqual(endedMs);
      return summarize(p.data);
    });
    const udp = ours.filter((f) => f.protocol === IPPROTO_UDP);
    const out = udp.filter((f) => f.ipSrc === '198.18.1.1');
    const back = udp.filter((f) => f.ipSrc === '198.18.1.2');
    // With rx and tx in different threads, records of the two directions may interleave in any order; within one
    // direction they are in wire order.
    expect(out.map((f) => f.udpPayload)).toEqual(sent.map((b) => b.toString('hex')));
    expect(back.map((f) => f.udpPayload)).toEqual(sent.map((b) => b.toString('hex')));
    for (const f of out) expect(f).toMatchObject({ ethSrc: macA, ethDst: macB, ipDst: '198.18.1.2', udpSrcPort: 5000, udpDstPort: 7 });
    for (const f of back) expect(f).toMatchObject({ ethSrc: macB, ethDst: macA, ipDst: '198.18.1.1', udpSrcPort: 7, udpDstPort: 5000 });
    expect(ours.filter((f) => f.protocol === IPPROTO_ICMP)).toHaveLength(4);
    // A's gratuitous ARP, its request for B and B's reply at least.
    expect(ours.filter((f) => f.etherType === ETHERTYPE_ARP).length).toBeGreaterThanOrEqual(3);

    // tshark: installed by the script when missing (root; CI). Without root and without tshark, say so and stop.
    const haveTshark = await run(ensureTools, ['tshark']).then(() => true, (error: unknown) => {
      if (isRoot()) throw error;
      return false;
    });
    if (!haveTshark) {
      console.warn('link-pcap: tshark is missing and installing it needs root: the tshark half is skipped');
      return;
    }
    expect(await tsharkSummaries(file)).toEqual(ours);
  });
});
