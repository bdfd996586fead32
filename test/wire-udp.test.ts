import { describe, expect, it } from 'vitest';
import {
  DropReason, IPPROTO_UDP, copyWithChecksum, createUdpRepr, emitUdp, emitUdpSummed, parseUdp,
  pseudoHeaderSum,
} from '../src/wire/index.js';
import { concat, referenceChecksum } from './wire-support.js';

const src = 0xc6120001, dst = 0xc6120002;

/** RFC 768 checksum computed the plain way: pseudo-header bytes + datagram, through the reference. */
function referenceUdpChecksumVerifies(datagram: Uint8Array): boolean {
  const pseudo = new Uint8Array([0xc6, 0x12, 0, 1, 0xc6, 0x12, 0, 2, 0, IPPROTO_UDP, datagram.length >>> 8, datagram.length & 0xff]);
  return referenceChecksum(concat(pseudo, datagram)) === 0;
}

describe('UDP', () => {
  it('round-trips datagrams of every small length, payload in place', () => {
    const b = new Uint8Array(200);
    const udp = createUdpRepr();
    for (let n = 0; n < 40; n++) {
      for (let i = 0; i < n; i++) b[10 + i] = (n * 31 + i) & 0xff;
      const len = emitUdp(b, 2, 5353, 53, n, pseudoHeaderSum(src, dst, IPPROTO_UDP, 8 + n));
      expect(len).toBe(8 + n);
      expect(referenceUdpChecksumVerifies(b.slice(2, 2 + len))).toBe(true);
      expect(parseUdp(b, 2, len, udp, pseudoHeaderSum(src, dst, IPPROTO_UDP, len))).toBe(DropReason.Ok);
      expect(udp).toEqual({ srcPort: 5353, dstPort: 53, length: len, checksum: (b[8] << 8) | b[9], payloadOffset: 10, payloadLength: n });
    }
  });

  it('emitUdpSummed after copyWithChecksum writes the same bytes as emitUdp', () => {
    const payload = new Uint8Array(1001).map((_, i) => (i * 13) & 0xff);
    const a = new Uint8Array(1100);
    const b = new Uint8Array(1100);
    a.set(payload, 8);
    emitUdp(a, 0, 1, 2, payload.length, pseudoHeaderSum(src, dst, IPPROTO_UDP, 8 + payload.length));
    const sum = copyWithChecksum(payload, 0, b, 8, payload.length, pseudoHeaderSum(src, dst, IPPROTO_UDP, 8 + payload.length));
    emitUdpSummed(b, 0, 1, 2, payload.length, sum);
    expect(Buffer.from(a).equals(b)).toBe(true);
  });

  it('sends a computed zero checksum as 0xffff, and 0 (none) when asked', () => {
    // Find a payload whose checksum comes out 0: pick the last two bytes so the sum is 0xffff.
    const b = new Uint8Array(12);
    b.set([0, 0], 8);
    const pseudo = pseudoHeaderSum(src, dst, IPPROTO_UDP, 12);
    emitUdp(b, 0, 7, 9, 4, pseudo);
    const natural = (b[6] << 8) | b[7]; // with payload 00 00
    // Putting `natural` into the payload makes the sum 0xffff → checksum 0 → sent as 0xffff.
    b[8] = natural >>> 8;
    b[9] = natural & 0xff;
    emitUdp(b, 0, 7, 9, 4, pseudo);
    expect((b[6] << 8) | b[7]).toBe(0xffff);
    const udp = createUdpRepr();
    expect(parseUdp(b, 0, 12, udp, pseudo)).toBe(DropReason.Ok);
    emitUdp(b, 0, 7, 9, 4, -1);
    expect((b[6] << 8) | b[7]).toBe(0);
    expect(parseUdp(b, 0, 12, udp, pseudo)).toBe(DropReason.Ok); // no checksum sent: nothing to verify
  });

  it('verifies against the UDP length when the IP payload is longer, and drops bad lengths and checksums', () => {
    const b = new Uint8Array(40);
    emitUdp(b, 0, 1000, 2000, 10, pseudoHeaderSum(src, dst, IPPROTO_UDP, 18));
    const udp = createUdpRepr();
    // The IP payload is 24 bytes (6 trailing bytes); the caller's pseudo sum uses 24.
    b.fill(0x5a, 18, 24);
    expect(parseUdp(b, 0, 24, udp, pseudoHeaderSum(src, dst, IPPROTO_UDP, 24))).toBe(DropReason.Ok);
    expect(udp.payloadLength).toBe(10);
    expect(parseUdp(b, 0, 17, udp, -1)).toBe(DropReason.Truncated);
    expect(parseUdp(b, 0, 7, udp, -1)).toBe(DropReason.Truncated);
    const short = b.slice();
    short[5] = 7;
    expect(parseUdp(short, 0, 24, udp, -1)).toBe(DropReason.BadUdpLength);
    b[12] ^= 0x40;
    expect(parseUdp(b, 0, 18, udp, pseudoHeaderSum(src, dst, IPPROTO_UDP, 18))).toBe(DropReason.BadChecksum);
    expect(parseUdp(b, 0, 18, udp, -1)).toBe(DropReason.Ok);
  });
});
