import { describe, expect, it } from 'vitest';
import {
  ARP_OP_REPLY, ARP_OP_REQUEST, BROADCAST_MAC, DropReason, ETHERTYPE_ARP, ETHERTYPE_IPV4, createArpRepr,
  createEthernetRepr, emitArp, emitEthernet, parseArp, parseEthernet,
} from '../src/wire/index.js';
import { hex } from './wire-support.js';

describe('Ethernet', () => {
  it('round-trips a header and reports the payload', () => {
    const frame = new Uint8Array(64);
    expect(emitEthernet(frame, 2, BROADCAST_MAC, 0x0200c6120001, ETHERTYPE_ARP)).toBe(14);
    const eth = createEthernetRepr();
    expect(parseEthernet(frame, 2, 60, eth)).toBe(DropReason.Ok);
    expect(eth).toEqual({ dst: BROADCAST_MAC, src: 0x0200c6120001, etherType: ETHERTYPE_ARP, payloadOffset: 16, payloadLength: 46 });
  });

  it('drops short frames and 802.3 length fields', () => {
    const eth = createEthernetRepr();
    expect(parseEthernet(new Uint8Array(13), 0, 13, eth)).toBe(DropReason.Truncated);
    expect(parseEthernet(new Uint8Array(20), 10, 14, eth)).toBe(DropReason.Truncated); // runs past the buffer
    const llc = new Uint8Array(60);
    llc[12] = 0x00;
    llc[13] = 0x2e;
    expect(parseEthernet(llc, 0, 60, eth)).toBe(DropReason.UnknownEtherType);
  });
});

describe('ARP', () => {
  it('round-trips requests and replies', () => {
    const b = new Uint8Array(40);
    const arp = createArpRepr();
    for (const op of [ARP_OP_REQUEST, ARP_OP_REPLY]) {
      const sent = { op, senderMac: 0x0200c6120001, senderIp: 0xc6120001, targetMac: op === ARP_OP_REPLY ? 0x0200c6120002 : 0, targetIp: 0xc6120002 };
      expect(emitArp(b, 3, sent)).toBe(28);
      expect(parseArp(b, 3, 28, arp)).toBe(DropReason.Ok);
      expect(arp).toEqual(sent);
    }
  });

  it('decodes a hand-assembled request with minimum-frame padding behind it', () => {
    // who-has 198.18.0.2 tell 198.18.0.1, from 0e:5c:0c:7d:1b:a6, padded to 46 bytes of payload (real Linux ARP is
    // decoded in wire-pcap.test.ts).
    const payload = hex('0001 0800 0604 0001 0e5c 0c7d 1ba6 c612 0001 0000 0000 0000 c612 0002' + '00'.repeat(18));
    const arp = createArpRepr();
    expect(parseArp(payload, 0, payload.length, arp)).toBe(DropReason.Ok);
    expect(arp).toEqual({ op: 1, senderMac: 0x0e5c0c7d1ba6, senderIp: 0xc6120001, targetMac: 0, targetIp: 0xc6120002 });
  });

  it('drops non-Ethernet/IPv4 ARP, unknown operations and short packets with BadArp / Truncated', () => {
    const arp = createArpRepr();
    const good = new Uint8Array(28);
    emitArp(good, 0, { op: 1, senderMac: 1, senderIp: 2, targetMac: 0, targetIp: 3 });
    const mutate = (at: number, value: number): Uint8Array => { const b = good.slice(); b[at] = value; return b; };
    expect(parseArp(mutate(1, 6), 0, 28, arp)).toBe(DropReason.BadArp); // htype IEEE 802
    expect(parseArp(mutate(2, 0x86), 0, 28, arp)).toBe(DropReason.BadArp); // ptype
    expect(parseArp(mutate(4, 8), 0, 28, arp)).toBe(DropReason.BadArp); // hlen
    expect(parseArp(mutate(5, 16), 0, 28, arp)).toBe(DropReason.BadArp); // plen
    expect(parseArp(mutate(7, 3), 0, 28, arp)).toBe(DropReason.BadArp); // RARP request
    expect(parseArp(good, 0, 27, arp)).toBe(DropReason.Truncated);
  });
});
