// Frames captured from real Linux peers, decoded field by field.
//
// How the capture was made: test/fixtures/make-wire-capture.sh (run as root, kernel 6.18, tcpdump 4.99.3,
// iputils ping, netcat-openbsd). Two network namespaces joined by a veth, a = 198.19.77.1 / 02:00:c6:13:4d:01,
// b = 198.19.77.2 / 02:00:c6:13:4d:02, TX checksum offload off on both ends (`ethtool -K <dev> tx off`) so every
// checksum is complete; `tcpdump -w` on a's side. Traffic: ARP + 2 pings a → b; a UDP datagram a:40001 → b:7777;
// one a:40002 → b:9 (closed), which b answers with ICMP port unreachable; a TCP connection a:40003 → b:2121 carrying
// "ringstack tcp\n", then closed. What tcpdump printed for it is test/fixtures/wire-capture.txt; the expected values
// below are copied from that text, not from our decoder.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  ARP_OP_REPLY, ARP_OP_REQUEST, BROADCAST_MAC, DropReason, ETHERTYPE_ARP, ETHERTYPE_IPV4, ICMP_DEST_UNREACHABLE,
  ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IcmpUnreachableCode, TCP_ACK, TCP_FIN,
  TCP_PSH, TCP_SYN, createArpRepr, createEthernetRepr, createIcmpRepr, createIpv4Repr, createTcpRepr, createUdpRepr,
  dropReasonName, parseArp, parseEthernet, parseIcmp, parseIpv4, parseIpv4Address, parseMac, parseTcp, parseUdp,
  pseudoHeaderSum,
} from '../src/wire/index.js';
import { readPcap } from './pcap-reader.js';

const capture = readPcap(new Uint8Array(readFileSync(new URL('./fixtures/wire-capture.pcap', import.meta.url))));
const frames = capture.packets.map((p) => p.data);
const macA = parseMac('02:00:c6:13:4d:01');
const macB = parseMac('02:00:c6:13:4d:02');
const ipA = parseIpv4Address('198.19.77.1');
const ipB = parseIpv4Address('198.19.77.2');

const eth = createEthernetRepr();
const arp = createArpRepr();
const ip = createIpv4Repr();
const icmp = createIcmpRepr();
const udp = createUdpRepr();
const tcp = createTcpRepr();

/** Parses Ethernet + IPv4 (checksum verified) of frame `n`; throws with the drop reason if it does not parse. */
function ipv4Frame(n: number): Uint8Array {
  const f = frames[n];
  const check = (code: number, what: string): void => {
    if (code !== DropReason.Ok) throw new Error(`frame ${n}: ${what} dropped: ${dropReasonName(code)}`);
  };
  check(parseEthernet(f, 0, f.length, eth), 'Ethernet');
  expect(eth.etherType).toBe(ETHERTYPE_IPV4);
  check(parseIpv4(f, eth.payloadOffset, eth.payloadLength, ip, true), 'IPv4');
  return f;
}

function tcpFrame(n: number): void {
  const f = ipv4Frame(n);
  expect(ip.protocol).toBe(IPPROTO_TCP);
  expect(parseTcp(f, ip.payloadOffset, ip.payloadLength, tcp, pseudoHeaderSum(ip.src, ip.dst, ip.protocol, ip.payloadLength))).toBe(DropReason.Ok);
}

describe('frames captured from Linux (test/fixtures/wire-capture.pcap)', () => {
  it('is an Ethernet capture of 17 frames', () => {
    expect(capture.linkType).toBe(1);
    expect(frames.length).toBe(17);
  });

  it('ARP: "Request who-has 198.19.77.2 tell 198.19.77.1" and "Reply 198.19.77.2 is-at 02:00:c6:13:4d:02"', () => {
    expect(parseEthernet(frames[0], 0, frames[0].length, eth)).toBe(DropReason.Ok);
    expect([eth.dst, eth.src, eth.etherType]).toEqual([BROADCAST_MAC, macA, ETHERTYPE_ARP]);
    expect(parseArp(frames[0], eth.payloadOffset, eth.payloadLength, arp)).toBe(DropReason.Ok);
    expect(arp).toEqual({ op: ARP_OP_REQUEST, senderMac: macA, senderIp: ipA, targetMac: 0, targetIp: ipB });

    expect(parseEthernet(frames[1], 0, frames[1].length, eth)).toBe(DropReason.Ok);
    expect([eth.dst, eth.src, eth.etherType]).toEqual([macA, macB, ETHERTYPE_ARP]);
    expect(parseArp(frames[1], eth.payloadOffset, eth.payloadLength, arp)).toBe(DropReason.Ok);
    expect(arp).toEqual({ op: ARP_OP_REPLY, senderMac: macB, senderIp: ipB, targetMac: macA, targetIp: ipA });
  });

  it('ICMP echo: "id 11914, seq 1..2, length 64", DF on requests, replies echo the data', () => {
    const expected = [
      // frame, type, seq, ip id, DF, src, dst
      [2, ICMP_ECHO_REQUEST, 1, 4930, true, ipA, ipB],
      [3, ICMP_ECHO_REPLY, 1, 12417, false, ipB, ipA],
      [4, ICMP_ECHO_REQUEST, 2, 4947, true, ipA, ipB],
      [5, ICMP_ECHO_REPLY, 2, 12426, false, ipB, ipA],
    ] as const;
    let requestData: number[] = [];
    for (const [n, type, seq, id, df, src, dst] of expected) {
      const f = ipv4Frame(n);
      expect(ip).toMatchObject({ version: 4, headerLength: 20, tos: 0, ttl: 64, id, dontFragment: df, moreFragments: false, fragmentOffset: 0, protocol: IPPROTO_ICMP, totalLength: 84, src, dst });
      expect(parseIcmp(f, ip.payloadOffset, ip.payloadLength, icmp)).toBe(DropReason.Ok);
      expect([icmp.type, icmp.code, icmp.id, icmp.seq, icmp.dataLength]).toEqual([type, 0, 11914, seq, 56]);
      const data = Array.from(f.subarray(icmp.dataOffset, icmp.dataOffset + icmp.dataLength));
      if (type === ICMP_ECHO_REQUEST) requestData = data;
      else expect(data).toEqual(requestData);
      // iputils fills the data after its 16-byte timestamp with the byte's own index.
      expect(data.slice(16)).toEqual(Array.from({ length: 40 }, (_, i) => i + 16));
    }
  });

  it('UDP: "198.19.77.1.40001 > 198.19.77.2.7777: [udp sum ok] UDP, length 14"', () => {
    const f = ipv4Frame(6);
    expect(ip).toMatchObject({ id: 27513, dontFragment: true, protocol: IPPROTO_UDP, totalLength: 42, src: ipA, dst: ipB });
    expect(parseUdp(f, ip.payloadOffset, ip.payloadLength, udp, pseudoHeaderSum(ip.src, ip.dst, ip.protocol, ip.payloadLength))).toBe(DropReason.Ok);
    expect([udp.srcPort, udp.dstPort, udp.length, udp.payloadLength]).toEqual([40001, 7777, 22, 14]);
    expect(udp.checksum).not.toBe(0);
    expect(Buffer.from(f.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength)).toString()).toBe('ringstack udp\n');
    // The same frame with one payload bit flipped no longer verifies.
    const bad = f.slice();
    bad[udp.payloadOffset] ^= 1;
    expect(parseUdp(bad, ip.payloadOffset, ip.payloadLength, udp, pseudoHeaderSum(ip.src, ip.dst, ip.protocol, ip.payloadLength))).toBe(DropReason.BadChecksum);
  });

  it('ICMP error: "ICMP 198.19.77.2 udp port 9 unreachable, length 50" quoting the datagram of frame 7', () => {
    const f = ipv4Frame(8);
    expect(ip).toMatchObject({ tos: 0xc0, id: 12552, dontFragment: false, protocol: IPPROTO_ICMP, totalLength: 70, src: ipB, dst: ipA });
    expect(parseIcmp(f, ip.payloadOffset, ip.payloadLength, icmp)).toBe(DropReason.Ok);
    expect(icmp).toMatchObject({
      type: ICMP_DEST_UNREACHABLE, code: IcmpUnreachableCode.Port, dataLength: 42, quotedHeaderLength: 20,
      quotedProtocol: IPPROTO_UDP, quotedSrc: ipA, quotedDst: ipB, quotedSrcPort: 40002, quotedDstPort: 9,
    });
    // Linux quotes the whole offending datagram: it is frame 7's IP datagram byte for byte.
    const original = ipv4Frame(7);
    expect(Buffer.from(f.subarray(icmp.dataOffset, icmp.dataOffset + icmp.dataLength)).equals(original.subarray(14, 14 + 42))).toBe(true);
  });

  it('TCP SYN: "Flags [S], seq 4278769857, win 64240, options [mss 1460,sackOK,TS val 3752547806 ecr 0,nop,wscale 10]"', () => {
    tcpFrame(9);
    expect(ip).toMatchObject({ id: 28810, totalLength: 60, src: ipA, dst: ipB });
    expect(tcp).toMatchObject({
      srcPort: 40003, dstPort: 2121, seq: 4278769857, ack: 0, flags: TCP_SYN, window: 64240, checksum: 0x7500,
      dataOffset: 40, payloadLength: 0, mss: 1460, sackPermitted: true, tsPresent: true, tsVal: 3752547806, tsEcr: 0,
      windowScale: 10, sackBlockCount: 0, unknownOptionCount: 0,
    });
  });

  it('TCP SYN-ACK: "Flags [S.], seq 214444025, ack 4278769858, win 65160, options [mss 1460,sackOK,TS val 406853699 ecr 3752547806,nop,wscale 10]"', () => {
    tcpFrame(10);
    expect(ip).toMatchObject({ id: 0, dontFragment: true, src: ipB, dst: ipA });
    expect(tcp).toMatchObject({
      srcPort: 2121, dstPort: 40003, seq: 214444025, ack: 4278769858, flags: TCP_SYN | TCP_ACK, window: 65160,
      checksum: 0x0c13, mss: 1460, sackPermitted: true, tsPresent: true, tsVal: 406853699, tsEcr: 3752547806, windowScale: 10,
    });
  });

  it('TCP data and teardown: seq/ack (relative in tcpdump) made absolute, flags, window, timestamps, payload', () => {
    const isnA = 4278769857, isnB = 214444025;
    const u32 = (v: number): number => v >>> 0;
    const segments = [
      // frame, from a?, flags, seq (relative), ack (relative), win, cksum, payload
      [11, true, TCP_ACK, 1, 1, 63, 0x392c, ''],
      [12, true, TCP_PSH | TCP_ACK, 1, 1, 63, 0x33df, 'ringstack tcp\n'],
      [13, false, TCP_ACK, 1, 15, 64, 0x391d, ''],
      [14, true, TCP_FIN | TCP_ACK, 15, 1, 63, 0x391d, ''],
      [15, false, TCP_FIN | TCP_ACK, 1, 16, 64, 0x391b, ''],
      [16, true, TCP_ACK, 16, 2, 63, 0x391c, ''],
    ] as const;
    for (const [n, fromA, flags, seq, ack, window, checksum, payload] of segments) {
      tcpFrame(n);
      const f = frames[n];
      expect(tcp, `frame ${n}`).toMatchObject({
        srcPort: fromA ? 40003 : 2121, dstPort: fromA ? 2121 : 40003, flags, window, checksum,
        seq: u32((fromA ? isnA : isnB) + seq), ack: u32((fromA ? isnB : isnA) + ack),
        // "options [nop,nop,TS val … ecr …]"
        dataOffset: 32, mss: -1, windowScale: -1, sackPermitted: false, tsPresent: true,
        tsVal: fromA ? 3752547806 : 406853699, tsEcr: fromA ? 406853699 : 3752547806, payloadLength: payload.length,
      });
      expect(Buffer.from(f.subarray(tcp.payloadOffset, tcp.payloadOffset + tcp.payloadLength)).toString()).toBe(payload);
    }
  });

  it('every captured IPv4 frame verifies all its checksums, and any single flipped bit in a TCP segment fails it', () => {
    for (let n = 2; n < frames.length; n++) {
      const f = ipv4Frame(n);
      const pseudo = pseudoHeaderSum(ip.src, ip.dst, ip.protocol, ip.payloadLength);
      if (ip.protocol === IPPROTO_TCP) expect(parseTcp(f, ip.payloadOffset, ip.payloadLength, tcp, pseudo)).toBe(DropReason.Ok);
      else if (ip.protocol === IPPROTO_UDP) expect(parseUdp(f, ip.payloadOffset, ip.payloadLength, udp, pseudo)).toBe(DropReason.Ok);
      else expect(parseIcmp(f, ip.payloadOffset, ip.payloadLength, icmp)).toBe(DropReason.Ok);
    }
    const f = ipv4Frame(12).slice();
    const start = ip.payloadOffset, end = ip.payloadOffset + ip.payloadLength;
    const pseudo = pseudoHeaderSum(ip.src, ip.dst, ip.protocol, ip.payloadLength);
    for (let i = start; i < end; i++) {
      for (let bit = 0; bit < 8; bit++) {
        f[i] ^= 1 << bit;
        expect(parseTcp(f, start, end - start, tcp, pseudo), `byte ${i} bit ${bit}`).not.toBe(DropReason.Ok);
        f[i] ^= 1 << bit;
      }
    }
  });
});
