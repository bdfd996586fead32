// Random bytes never throw: a seeded fuzz loop over every parse function. Inputs are pure random bytes, captured
// real frames with random bytes overwritten and random truncation, and headers made plausible enough (version,
// data offset, fixed-up ICMP checksum) to reach the deeper code (TCP options, ICMP quotes). Each parse must return
// a known DropReason, and on Ok its payload must lie inside the bytes it was given. Replay a failure with its seed.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DROP_REASON_COUNT, DropReason, checksumAdd, checksumFold, createArpRepr, createEthernetRepr, createIcmpRepr,
  createIpv4Repr, createTcpRepr, createUdpRepr, parseArp, parseEthernet, parseIcmp, parseIpv4, parseTcp, parseUdp,
} from '../src/wire/index.js';
import { readPcap } from './pcap-reader.js';
import { seededRandom } from './wire-support.js';

const captured = readPcap(new Uint8Array(readFileSync(new URL('./fixtures/wire-capture.pcap', import.meta.url)))).packets.map((p) => p.data);

const eth = createEthernetRepr();
const arp = createArpRepr();
const ip = createIpv4Repr();
const icmp = createIcmpRepr();
const udp = createUdpRepr();
const tcp = createTcpRepr();

/** Runs every parser over b[off, off+len) and checks the invariants; returns how many parses said Ok. */
function parseAll(b: Uint8Array, off: number, len: number, pseudo: number): number {
  let ok = 0;
  const end = off + len;
  const check = (code: number, payloadOffset: number, payloadLength: number, what: string): void => {
    if (!(Number.isInteger(code) && code >= 0 && code < DROP_REASON_COUNT)) throw new Error(`${what}: returned ${code}`);
    if (code === DropReason.Ok) {
      ok++;
      if (!(payloadOffset >= off && payloadLength >= 0 && payloadOffset + payloadLength <= end)) {
        throw new Error(`${what}: payload ${payloadOffset}+${payloadLength} outside ${off}+${len}`);
      }
    }
  };
  check(parseEthernet(b, off, len, eth), eth.payloadOffset, eth.payloadLength, 'ethernet');
  check(parseArp(b, off, len, arp), off, 0, 'arp');
  check(parseIpv4(b, off, len, ip, true), ip.payloadOffset, ip.payloadLength, 'ipv4 verified');
  check(parseIpv4(b, off, len, ip, false), ip.payloadOffset, ip.payloadLength, 'ipv4');
  check(parseIcmp(b, off, len, icmp), icmp.dataOffset, icmp.dataLength, 'icmp');
  if (parseIcmp(b, off, len, icmp) === DropReason.Ok && icmp.quotedTransportOffset !== 0 && icmp.quotedTransportOffset + 8 > end) {
    throw new Error('icmp: quoted transport header runs past the message');
  }
  check(parseUdp(b, off, len, udp, pseudo), udp.payloadOffset, udp.payloadLength, 'udp verified');
  check(parseUdp(b, off, len, udp, -1), udp.payloadOffset, udp.payloadLength, 'udp');
  check(parseTcp(b, off, len, tcp, pseudo), tcp.payloadOffset, tcp.payloadLength, 'tcp verified');
  check(parseTcp(b, off, len, tcp, -1), tcp.payloadOffset, tcp.payloadLength, 'tcp');
  if (parseTcp(b, off, len, tcp, -1) === DropReason.Ok && !(tcp.sackBlockCount >= 0 && tcp.sackBlockCount <= 4)) {
    throw new Error(`tcp: ${tcp.sackBlockCount} SACK blocks`);
  }
  return ok;
}

describe('every parser on random input', () => {
  it('never throws and keeps payloads in bounds (300 000 seeded inputs)', () => {
    const random = seededRandom(0x5eed);
    const int = (n: number): number => Math.floor(random() * n);
    const buf = new Uint8Array(2048);
    let oks = 0;
    let tcpOptionsOk = 0;
    let icmpErrorsOk = 0;
    for (let round = 0; round < 300_000; round++) {
      const kind = round % 4;
      const off = int(8);
      let len: number;
      if (kind === 0) {
        // Pure random bytes.
        len = int(128);
        for (let i = 0; i < len; i++) buf[off + i] = int(256);
      } else if (kind === 1) {
        // A real frame (or the IP datagram inside it) with a few bytes overwritten and maybe cut short.
        const frame = captured[int(captured.length)];
        const skip = random() < 0.5 ? 0 : 14;
        len = frame.length - skip;
        buf.set(frame.subarray(skip), off);
        for (let k = int(4); k >= 0; k--) buf[off + int(len)] = int(256);
        if (random() < 0.3) len = int(len + 1);
      } else if (kind === 2) {
        // A TCP header with a valid data offset and random options.
        const dataOffsetWords = 5 + int(11);
        len = dataOffsetWords * 4 + int(16);
        for (let i = 0; i < len; i++) buf[off + i] = int(256);
        buf[off + 12] = (dataOffsetWords << 4) | (buf[off + 12] & 0x0f);
        // Options are mostly well-formed kinds so the parser gets past the first one.
        for (let i = off + 20; i < off + dataOffsetWords * 4; i++) if (random() < 0.3) buf[i] = [0, 1, 2, 3, 4, 5, 8][int(7)];
        if (parseTcp(buf, off, len, tcp, -1) === DropReason.Ok && tcp.dataOffset > 20) tcpOptionsOk++;
      } else {
        // An ICMP error with a plausible quoted header and a correct checksum.
        len = 8 + int(60);
        for (let i = 0; i < len; i++) buf[off + i] = int(256);
        buf[off] = [3, 11, 12, 0, 8][int(5)];
        if (len > 8 && random() < 0.8) buf[off + 8] = 0x45 + int(3);
        buf[off + 2] = 0;
        buf[off + 3] = 0;
        const checksum = checksumFold(checksumAdd(buf, off, len, 0));
        buf[off + 2] = checksum >>> 8;
        buf[off + 3] = checksum & 0xff;
        if (parseIcmp(buf, off, len, icmp) === DropReason.Ok && icmp.quotedHeaderLength > 0) icmpErrorsOk++;
      }
      oks += parseAll(buf, off, len, int(0x40000));
    }
    // The generator reaches the deep paths, so the loop tests more than length checks.
    expect(oks).toBeGreaterThan(10_000);
    expect(tcpOptionsOk).toBeGreaterThan(1_000);
    expect(icmpErrorsOk).toBeGreaterThan(1_000);
  });
});
