import { describe, expect, it } from 'vitest';
import {
  DropReason, ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, ICMP_PARAMETER_PROBLEM, ICMP_TIME_EXCEEDED,
  IPPROTO_UDP, IcmpUnreachableCode, createIcmpRepr, createIpv4Repr, createUdpRepr, emitIcmpEcho, emitIcmpError,
  emitIpv4, emitUdp, icmpNextHopMtuField, icmpPointerField, parseIcmp, parseIpv4, parseUdp, pseudoHeaderSum,
} from '../src/wire/index.js';
import { referenceChecksum } from './wire-support.js';

describe('ICMP echo', () => {
  it('round-trips a request with data copied in, and a reply built in place over it', () => {
    const data = new Uint8Array(57).map((_, i) => i * 7);
    const b = new Uint8Array(100);
    const len = emitIcmpEcho(b, 4, ICMP_ECHO_REQUEST, 0x1234, 7, data, 0, data.length);
    expect(len).toBe(65);
    expect(referenceChecksum(b, 4, len)).toBe(0);
    const icmp = createIcmpRepr();
    expect(parseIcmp(b, 4, len, icmp)).toBe(DropReason.Ok);
    expect([icmp.type, icmp.code, icmp.id, icmp.seq, icmp.dataOffset, icmp.dataLength]).toEqual([ICMP_ECHO_REQUEST, 0, 0x1234, 7, 12, 57]);
    expect(Array.from(b.subarray(icmp.dataOffset, icmp.dataOffset + icmp.dataLength))).toEqual(Array.from(data));

    expect(emitIcmpEcho(b, 4, ICMP_ECHO_REPLY, icmp.id, icmp.seq, b, icmp.dataOffset, icmp.dataLength)).toBe(65);
    expect(parseIcmp(b, 4, len, icmp)).toBe(DropReason.Ok);
    expect([icmp.type, icmp.id, icmp.seq]).toEqual([ICMP_ECHO_REPLY, 0x1234, 7]);
    expect(Array.from(b.subarray(12, 12 + 57))).toEqual(Array.from(data));
  });

  it('drops bad checksums, short messages and unknown types', () => {
    const b = new Uint8Array(16);
    emitIcmpEcho(b, 0, ICMP_ECHO_REQUEST, 1, 2, new Uint8Array(8), 0, 8);
    const icmp = createIcmpRepr();
    expect(parseIcmp(b, 0, 7, icmp)).toBe(DropReason.Truncated);
    b[15] ^= 1;
    expect(parseIcmp(b, 0, 16, icmp)).toBe(DropReason.BadChecksum);
    const timestamp = new Uint8Array(20);
    timestamp[0] = 13;
    expect(parseIcmp(timestamp, 0, 20, icmp)).toBe(DropReason.UnknownIcmpType);
  });
});

describe('ICMP errors', () => {
  // The offending datagram: IPv4 + UDP 40000 → 53 with 12 bytes of payload.
  const original = new Uint8Array(40);
  emitIpv4(original, 0, { tos: 0, totalLength: 40, id: 9, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: 1, protocol: IPPROTO_UDP, src: 0xc6120001, dst: 0xc6130009 });
  emitUdp(original, 20, 40000, 53, 12, pseudoHeaderSum(0xc6120001, 0xc6130009, IPPROTO_UDP, 20));

  it('locates the quoted IPv4 header and ports in destination unreachable, time exceeded and parameter problem', () => {
    const b = new Uint8Array(100);
    const icmp = createIcmpRepr();
    const cases = [
      [ICMP_DEST_UNREACHABLE, IcmpUnreachableCode.Port, 0, 0, 0],
      [ICMP_DEST_UNREACHABLE, IcmpUnreachableCode.FragmentationNeeded, icmpNextHopMtuField(1400), 1400, 0],
      [ICMP_TIME_EXCEEDED, 0, 0, 0, 0],
      [ICMP_PARAMETER_PROBLEM, 0, icmpPointerField(9), 0, 9],
    ] as const;
    for (const [type, code, rest, mtu, pointer] of cases) {
      const quotedLength = 28; // IP header + 8 bytes, RFC 792's minimum
      const len = emitIcmpError(b, 2, type, code, rest, original, 0, quotedLength);
      expect(len).toBe(36);
      expect(referenceChecksum(b, 2, len)).toBe(0);
      expect(parseIcmp(b, 2, len, icmp)).toBe(DropReason.Ok);
      expect(icmp).toMatchObject({
        type, code, nextHopMtu: mtu, pointer, dataOffset: 10, dataLength: 28, quotedHeaderLength: 20,
        quotedProtocol: IPPROTO_UDP, quotedSrc: 0xc6120001, quotedDst: 0xc6130009, quotedTransportOffset: 30,
        quotedSrcPort: 40000, quotedDstPort: 53,
      });
      // The quote is the original's first 28 bytes; as a datagram it is cut short (8 of its 20 payload bytes).
      expect(Buffer.from(b.subarray(icmp.dataOffset, icmp.dataOffset + 28)).equals(original.subarray(0, 28))).toBe(true);
      expect(parseIpv4(b, icmp.dataOffset, icmp.dataLength, createIpv4Repr(), true)).toBe(DropReason.Truncated);
    }
  });

  it('quotes a whole datagram when given one, which then parses completely', () => {
    const b = new Uint8Array(100);
    const len = emitIcmpError(b, 0, ICMP_DEST_UNREACHABLE, IcmpUnreachableCode.Port, 0, original, 0, 40);
    const icmp = createIcmpRepr();
    expect(parseIcmp(b, 0, len, icmp)).toBe(DropReason.Ok);
    const ip = createIpv4Repr();
    expect(parseIpv4(b, icmp.dataOffset, icmp.dataLength, ip, true)).toBe(DropReason.Ok);
    const udp = createUdpRepr();
    expect(parseUdp(b, ip.payloadOffset, ip.payloadLength, udp, pseudoHeaderSum(ip.src, ip.dst, ip.protocol, ip.payloadLength))).toBe(DropReason.Ok);
    expect([udp.srcPort, udp.dstPort, udp.payloadLength]).toEqual([40000, 53, 12]);
  });

  it('drops errors whose quote is short or not IPv4', () => {
    const b = new Uint8Array(100);
    const icmp = createIcmpRepr();
    let len = emitIcmpError(b, 0, ICMP_TIME_EXCEEDED, 0, 0, original, 0, 27);
    expect(parseIcmp(b, 0, len, icmp)).toBe(DropReason.BadIcmpQuote);
    const v6 = original.slice();
    v6[0] = 0x60;
    len = emitIcmpError(b, 0, ICMP_TIME_EXCEEDED, 0, 0, v6, 0, 40);
    expect(parseIcmp(b, 0, len, icmp)).toBe(DropReason.BadIcmpQuote);
    const longHeader = original.slice();
    longHeader[0] = 0x46; // claims 24 bytes of header: 24 + 8 > 28 quoted
    len = emitIcmpError(b, 0, ICMP_TIME_EXCEEDED, 0, 0, longHeader, 0, 28);
    expect(parseIcmp(b, 0, len, icmp)).toBe(DropReason.BadIcmpQuote);
  });
});
