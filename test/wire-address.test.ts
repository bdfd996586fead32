import { describe, expect, it } from 'vitest';
import {
  formatIpv4Address, formatMac, isMulticastMac, parseCidr, parseIpv4Address, parseMac, prefixMask, readMac, writeMac,
  BROADCAST_MAC,
} from '../src/wire/index.js';

describe('IPv4 addresses', () => {
  it('parses strict dotted quads to unsigned numbers and formats them back', () => {
    expect(parseIpv4Address('198.18.0.1')).toBe(0xc6120001);
    expect(parseIpv4Address('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4Address('0.0.0.0')).toBe(0);
    for (const text of ['198.18.0.1', '198.19.255.254', '10.0.0.255', '255.255.255.255', '0.0.0.0']) {
      expect(formatIpv4Address(parseIpv4Address(text))).toBe(text);
    }
  });

  it('rejects everything that is not a strict dotted quad with -1', () => {
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.4 ', ' 1.2.3.4', '0x7f.0.0.1',
      '1..2.3', '1.2.3.-4', '1.2.3.4/24', '١.2.3.4', '1000.1.1.1', '1.2.3.4\n']) {
      expect(parseIpv4Address(bad), JSON.stringify(bad)).toBe(-1);
    }
  });

  it('parses CIDR notation with the mask and keeps the host part', () => {
    expect(parseCidr('198.18.0.1/24')).toEqual({ address: 0xc6120001, prefixLength: 24, mask: 0xffffff00 });
    expect(parseCidr('198.18.0.0/15')).toEqual({ address: 0xc6120000, prefixLength: 15, mask: 0xfffe0000 });
    expect(parseCidr('0.0.0.0/0')).toEqual({ address: 0, prefixLength: 0, mask: 0 });
    expect(parseCidr('1.2.3.4/32')?.mask).toBe(0xffffffff);
    for (const bad of ['1.2.3.4', '1.2.3.4/33', '1.2.3.4/', '1.2.3.4/024', '1.2.3/8', '1.2.3.4/8/9', '/8']) {
      expect(parseCidr(bad), bad).toBeNull();
    }
    expect(prefixMask(1)).toBe(0x80000000);
  });
});

describe('MAC addresses', () => {
  it('parses, formats, reads and writes 48-bit MACs exactly', () => {
    expect(parseMac('02:00:c6:12:00:01')).toBe(0x0200c6120001);
    expect(parseMac('FF-FF-FF-FF-FF-FF')).toBe(BROADCAST_MAC);
    expect(formatMac(0xfedcba987654)).toBe('fe:dc:ba:98:76:54');
    const b = new Uint8Array(8);
    for (const mac of [0, 1, 0xffffffffffff, 0x800000000000, 0x0200c6120001, 0xfedcba987654]) {
      writeMac(b, 1, mac);
      expect(readMac(b, 1)).toBe(mac);
      expect(parseMac(formatMac(mac))).toBe(mac);
    }
    writeMac(b, 0, 0x0200c6120001);
    expect(Array.from(b.subarray(0, 6))).toEqual([0x02, 0x00, 0xc6, 0x12, 0x00, 0x01]);
  });

  it('rejects malformed MAC text with -1', () => {
    for (const bad of ['', '02:00:c6:12:00', '02:00:c6:12:00:01:02', '02-00:c6:12:00:01', '2:0:c6:12:0:1', 'gg:00:00:00:00:00', '0200c6120001']) {
      expect(parseMac(bad), bad).toBe(-1);
    }
  });

  it('tells group addresses by the I/G bit', () => {
    expect(isMulticastMac(BROADCAST_MAC)).toBe(true);
    expect(isMulticastMac(0x01005e000001)).toBe(true);
    expect(isMulticastMac(0x0200c6120001)).toBe(false);
  });
});
