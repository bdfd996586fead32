import { describe, expect, it } from 'vitest';
import { DropReason, IPPROTO_TCP, IPPROTO_UDP, createIpv4Repr, emitIpv4, parseIpv4 } from '../src/wire/index.js';
import { hex, referenceChecksum } from './wire-support.js';

const fields = {
  tos: 0xb8, totalLength: 60, id: 0xbeef, dontFragment: true, moreFragments: false, fragmentOffset: 0, ttl: 64,
  protocol: IPPROTO_TCP, src: 0xc6120001, dst: 0xc6130002,
};

describe('IPv4', () => {
  it('round-trips a header, with a checksum the reference agrees with', () => {
    const b = new Uint8Array(80);
    expect(emitIpv4(b, 2, fields)).toBe(20);
    expect(referenceChecksum(b, 2, 20)).toBe(0);
    const ip = createIpv4Repr();
    expect(parseIpv4(b, 2, 78, ip, true)).toBe(DropReason.Ok);
    expect(ip).toEqual({ ...fields, version: 4, headerLength: 20, checksum: (b[12] << 8) | b[13], payloadOffset: 22, payloadLength: 40 });
  });

  it('round-trips fragment fields (offset in bytes, MF, DF)', () => {
    const b = new Uint8Array(1500);
    const ip = createIpv4Repr();
    for (const [fragmentOffset, moreFragments, dontFragment] of [[0, true, false], [1480, true, false], [65528 - 1480, false, false], [8, false, true]] as const) {
      emitIpv4(b, 0, { ...fields, protocol: IPPROTO_UDP, totalLength: 1500, fragmentOffset, moreFragments, dontFragment });
      expect(parseIpv4(b, 0, 1500, ip, true)).toBe(DropReason.Ok);
      expect([ip.fragmentOffset, ip.moreFragments, ip.dontFragment]).toEqual([fragmentOffset, moreFragments, dontFragment]);
    }
  });

  it('decodes a header with options and skips them', () => {
    // IHL 6: one option word (NOP NOP NOP EOL). Checksum computed by hand for these bytes.
    const b = hex('46 00 0020 0001 0000 40 11 0000 c6120001 c6120002 01010100 0000 0000 0000 0000');
    const sum = referenceChecksum(b, 0, 24);
    b[10] = sum >>> 8;
    b[11] = sum & 0xff;
    const ip = createIpv4Repr();
    expect(parseIpv4(b, 0, b.length, ip, true)).toBe(DropReason.Ok);
    expect([ip.headerLength, ip.payloadOffset, ip.payloadLength, ip.protocol]).toEqual([24, 24, 8, IPPROTO_UDP]);
  });

  it('ignores Ethernet padding after totalLength', () => {
    const b = new Uint8Array(46);
    emitIpv4(b, 0, { ...fields, totalLength: 28 });
    const ip = createIpv4Repr();
    expect(parseIpv4(b, 0, 46, ip, true)).toBe(DropReason.Ok);
    expect(ip.payloadLength).toBe(8);
  });

  it('returns the right drop reason for each kind of bad header', () => {
    const good = new Uint8Array(60);
    emitIpv4(good, 0, fields);
    const ip = createIpv4Repr();
    const mutated = (at: number, value: number): Uint8Array => { const b = good.slice(); b[at] = value; return b; };
    expect(parseIpv4(good, 0, 19, ip, true)).toBe(DropReason.Truncated);
    expect(parseIpv4(mutated(0, 0x65), 0, 60, ip, true)).toBe(DropReason.BadVersion);
    expect(parseIpv4(mutated(0, 0x44), 0, 60, ip, true)).toBe(DropReason.BadHeaderLength);
    expect(parseIpv4(mutated(0, 0x4f), 0, 40, ip, true)).toBe(DropReason.Truncated); // 60-byte header in 40 bytes
    expect(parseIpv4(mutated(3, 10), 0, 60, ip, false)).toBe(DropReason.BadTotalLength);
    expect(parseIpv4(good, 0, 59, ip, true)).toBe(DropReason.Truncated); // totalLength 60 > 59
    expect(parseIpv4(mutated(8, 63), 0, 60, ip, true)).toBe(DropReason.BadChecksum);
    expect(parseIpv4(mutated(8, 63), 0, 60, ip, false)).toBe(DropReason.Ok); // verification off (CSUM_VALID)
    // Fragment offset 65528 + 40 bytes of payload runs past 65535.
    const ofs = good.slice();
    ofs[6] = 0x1f;
    ofs[7] = 0xff;
    expect(parseIpv4(ofs, 0, 60, ip, false)).toBe(DropReason.BadFragment);
  });

  it('refuses to emit impossible fields', () => {
    const b = new Uint8Array(20);
    expect(() => emitIpv4(b, 0, { ...fields, totalLength: 70000 })).toThrow(RangeError);
    expect(() => emitIpv4(b, 0, { ...fields, totalLength: 19 })).toThrow(RangeError);
    expect(() => emitIpv4(b, 0, { ...fields, fragmentOffset: 12 })).toThrow(RangeError);
  });
});
