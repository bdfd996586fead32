import { describe, expect, it } from 'vitest';
import {
  DropReason, IPPROTO_TCP, TCP_ACK, TCP_CWR, TCP_ECE, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG, TcpFlag,
  copyWithChecksum, createTcpRepr, emitTcpHeader, finishTcpChecksum, finishTcpChecksumSummed, parseTcp,
  pseudoHeaderSum, tcpOptionsLength, type TcpEmitFields,
} from '../src/wire/index.js';
import { concat, hex, referenceChecksum } from './wire-support.js';

const src = 0xc6120001, dst = 0xc6120002;

function fields(overrides: Partial<TcpEmitFields> = {}): TcpEmitFields {
  return {
    srcPort: 40000, dstPort: 21, seq: 0xfffffff0, ack: 0x80000001, flags: TCP_ACK, window: 65535, urgent: 0,
    mss: -1, windowScale: -1, sackPermitted: false, sackBlockCount: 0, sackBlocks: new Uint32Array(8),
    tsPresent: false, tsVal: 0, tsEcr: 0, ...overrides,
  };
}

/** Emits header + payload, finishes the checksum, parses it back (verifying), returns the parsed repr. */
function roundTrip(f: TcpEmitFields, payloadLength = 0) {
  const b = new Uint8Array(2 + 60 + payloadLength);
  const headerLength = emitTcpHeader(b, 2, f);
  expect(headerLength).toBe(20 + tcpOptionsLength(f));
  expect(headerLength % 4).toBe(0);
  for (let i = 0; i < payloadLength; i++) b[2 + headerLength + i] = i & 0xff;
  const segmentLength = headerLength + payloadLength;
  finishTcpChecksum(b, 2, segmentLength, pseudoHeaderSum(src, dst, IPPROTO_TCP, segmentLength));
  const pseudo = new Uint8Array([0xc6, 0x12, 0, 1, 0xc6, 0x12, 0, 2, 0, 6, segmentLength >>> 8, segmentLength & 0xff]);
  expect(referenceChecksum(concat(pseudo, b.subarray(2, 2 + segmentLength)))).toBe(0);
  const tcp = createTcpRepr();
  expect(parseTcp(b, 2, segmentLength, tcp, pseudoHeaderSum(src, dst, IPPROTO_TCP, segmentLength))).toBe(DropReason.Ok);
  expect(tcp.dataOffset).toBe(headerLength);
  expect(tcp.payloadOffset).toBe(2 + headerLength);
  expect(tcp.payloadLength).toBe(payloadLength);
  expect(tcp.unknownOptionCount).toBe(0);
  const { sackBlocks, ...rest } = f;
  expect(tcp).toMatchObject(rest);
  expect(Array.from(tcp.sackBlocks.subarray(0, 2 * f.sackBlockCount))).toEqual(Array.from(sackBlocks.subarray(0, 2 * f.sackBlockCount)));
  return tcp;
}

describe('TCP header and options round trip', () => {
  it('plain header with every flag and u32 sequence numbers above 2^31', () => {
    for (const flags of [TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR, 0xff, TcpFlag.SYN | TcpFlag.ACK]) {
      roundTrip(fields({ flags, urgent: flags & TCP_URG ? 7 : 0 }), 5);
    }
  });

  it('each option alone', () => {
    roundTrip(fields({ mss: 1460 }));
    roundTrip(fields({ mss: 0 }));
    roundTrip(fields({ windowScale: 7 }));
    roundTrip(fields({ windowScale: 0 }));
    roundTrip(fields({ sackPermitted: true }));
    roundTrip(fields({ tsPresent: true, tsVal: 0xdeadbeef, tsEcr: 0 }));
  });

  it('a Linux-style SYN with everything: 20 option bytes in Linux order', () => {
    const syn = fields({ flags: TCP_SYN, mss: 1460, windowScale: 7, sackPermitted: true, tsPresent: true, tsVal: 123456, tsEcr: 0 });
    expect(tcpOptionsLength(syn)).toBe(20);
    const b = new Uint8Array(40);
    emitTcpHeader(b, 0, syn);
    // mss 1460, sackOK, TS val 123456 ecr 0, nop, wscale 7 — as `tcpdump` prints a Linux SYN.
    expect(Array.from(b.subarray(20, 40))).toEqual(Array.from(hex('020405b4 0402 080a 0001e240 00000000 01 030307')));
    roundTrip(syn);
  });

  it('1 to 4 SACK blocks, alone and (up to 3) next to timestamps', () => {
    const edges = [0xfffffff0, 0x00000010, 1000, 2000, 3000, 4000, 0x7fffffff, 0x80000000];
    for (let n = 1; n <= 4; n++) {
      roundTrip(fields({ sackBlockCount: n, sackBlocks: Uint32Array.from(edges) }), 3);
      if (n <= 3) roundTrip(fields({ sackBlockCount: n, sackBlocks: Uint32Array.from(edges), tsPresent: true, tsVal: 1, tsEcr: 2 }), 3);
    }
    expect(() => emitTcpHeader(new Uint8Array(80), 0, fields({ sackBlockCount: 4, tsPresent: true }))).toThrow(RangeError);
    expect(() => emitTcpHeader(new Uint8Array(80), 0, fields({ sackBlockCount: 5 }))).toThrow(RangeError);
  });

  it('checksum finished over a header when the payload was summed during its copy', () => {
    const payload = new Uint8Array(1461).map((_, i) => (i * 7) & 0xff);
    const f = fields({ tsPresent: true, tsVal: 5, tsEcr: 6, flags: TCP_ACK | TCP_PSH });
    const a = new Uint8Array(1600);
    const b = new Uint8Array(1600);
    const headerLength = emitTcpHeader(a, 0, f);
    a.set(payload, headerLength);
    const segmentLength = headerLength + payload.length;
    const pseudo = pseudoHeaderSum(src, dst, IPPROTO_TCP, segmentLength);
    const expected = finishTcpChecksum(a, 0, segmentLength, pseudo);
    emitTcpHeader(b, 0, f);
    const sum = copyWithChecksum(payload, 0, b, headerLength, payload.length, pseudo);
    expect(finishTcpChecksumSummed(b, 0, headerLength, sum)).toBe(expected);
    expect(Buffer.from(a).equals(b)).toBe(true);
    // Finishing again over a field that already holds a checksum gives the same value.
    expect(finishTcpChecksum(a, 0, segmentLength, pseudo)).toBe(expected);
  });
});

describe('TCP option parsing of hand-built headers', () => {
  /** A 20-byte header followed by `options` (padded with EOL to a multiple of 4), checksum not verified. */
  function withOptions(options: number[]): Uint8Array {
    const padded = options.concat(new Array((4 - (options.length % 4)) % 4).fill(0));
    const b = new Uint8Array(20 + padded.length);
    emitTcpHeader(b, 0, fields());
    b[12] = ((20 + padded.length) / 4) << 4;
    b.set(padded, 20);
    return b;
  }
  const parse = (b: Uint8Array) => {
    const tcp = createTcpRepr();
    return { code: parseTcp(b, 0, b.length, tcp, -1), tcp };
  };

  it('NOPs anywhere, EOL ends the list, unknown kinds are skipped and counted', () => {
    let r = parse(withOptions([1, 1, 1, 2, 4, 0x05, 0xb4, 1, 3, 3, 9]));
    expect(r.code).toBe(DropReason.Ok);
    expect([r.tcp.mss, r.tcp.windowScale]).toEqual([1460, 9]);
    // After EOL nothing is parsed, even bytes that would be a malformed option.
    r = parse(withOptions([2, 4, 0x05, 0xb4, 0, 2, 1, 0xff]));
    expect(r.code).toBe(DropReason.Ok);
    expect(r.tcp.mss).toBe(1460);
    // Unknown kinds 30 (MPTCP, 4 bytes) and 254 (experimental, 6 bytes) between known ones.
    r = parse(withOptions([30, 4, 0xaa, 0xbb, 3, 3, 14, 254, 6, 1, 2, 3, 4, 4, 2]));
    expect(r.code).toBe(DropReason.Ok);
    expect([r.tcp.unknownOptionCount, r.tcp.windowScale, r.tcp.sackPermitted]).toEqual([2, 14, true]);
  });

  it('resets options a previous parse left in the reused repr', () => {
    const tcp = createTcpRepr();
    const full = withOptions([2, 4, 1, 0, 3, 3, 2, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
    expect(parseTcp(full, 0, full.length, tcp, -1)).toBe(DropReason.Ok);
    expect([tcp.mss, tcp.windowScale, tcp.sackPermitted, tcp.tsPresent, tcp.sackBlockCount]).toEqual([256, 2, true, true, 1]);
    const bare = withOptions([]);
    expect(parseTcp(bare, 0, bare.length, tcp, -1)).toBe(DropReason.Ok);
    expect([tcp.mss, tcp.windowScale, tcp.sackPermitted, tcp.tsPresent, tcp.sackBlockCount, tcp.unknownOptionCount]).toEqual([-1, -1, false, false, 0, 0]);
  });

  it('malformed option lengths are BadOption, never an exception', () => {
    const bad: [string, number[]][] = [
      ['length 0', [30, 0]],
      ['length 1', [30, 1]],
      ['kind with no room for its length', [1, 1, 1, 30]],
      ['runs past the header', [30, 8, 0, 0]],
      ['MSS of length 3', [2, 3, 0]],
      ['window scale of length 4', [3, 4, 0, 0]],
      ['SACK-permitted of length 3', [4, 3, 0]],
      ['timestamps of length 8', [8, 8, 0, 0, 0, 0, 0, 0]],
      ['SACK with no block', [5, 2]],
      ['SACK with half a block', [5, 6, 0, 0, 0, 0]],
    ];
    for (const [what, options] of bad) {
      const b = withOptions(options);
      expect(parse(b).code, what).toBe(DropReason.BadOption);
    }
  });

  it('bad header length, truncation and checksum', () => {
    const b = new Uint8Array(30);
    emitTcpHeader(b, 0, fields());
    finishTcpChecksum(b, 0, 30, pseudoHeaderSum(src, dst, IPPROTO_TCP, 30));
    const tcp = createTcpRepr();
    expect(parseTcp(b, 0, 30, tcp, pseudoHeaderSum(src, dst, IPPROTO_TCP, 30))).toBe(DropReason.Ok);
    expect(parseTcp(b, 0, 19, tcp, -1)).toBe(DropReason.Truncated);
    const offset4 = b.slice();
    offset4[12] = 4 << 4;
    expect(parseTcp(offset4, 0, 30, tcp, -1)).toBe(DropReason.BadHeaderLength);
    const offset15 = b.slice();
    offset15[12] = 15 << 4; // 60-byte header in a 30-byte segment
    expect(parseTcp(offset15, 0, 30, tcp, -1)).toBe(DropReason.Truncated);
    // Delivered to the wrong address: the pseudo-header catches it.
    expect(parseTcp(b, 0, 30, tcp, pseudoHeaderSum(src, 0xc6120003, IPPROTO_TCP, 30))).toBe(DropReason.BadChecksum);
    b[25] ^= 0x80;
    expect(parseTcp(b, 0, 30, tcp, pseudoHeaderSum(src, dst, IPPROTO_TCP, 30))).toBe(DropReason.BadChecksum);
  });
});
