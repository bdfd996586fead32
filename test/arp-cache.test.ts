import { describe, expect, it } from 'vitest';
import { ARP_MAX_ENTRIES, ARP_MAX_PENDING_BYTES, ArpCache } from '../src/workers/tcp/arp-cache.js';

const packet = (bytes: number) => ({ packet: new Uint8Array(bytes), origin: 0 });

describe('ArpCache', () => {
  it('queues behind an unresolved neighbour up to a socket buffer, newest kept, and hands the queue over on reply', () => {
    const arp = new ArpCache();
    expect(arp.enqueue(1, 0xc6120102, packet(1000), 0)).toBe(true); // first packet: send a request
    expect(arp.enqueue(1, 0xc6120102, packet(1000), 0)).toBe(false);
    for (let i = 0; i < 300; i++) arp.enqueue(1, 0xc6120102, packet(1000), 0);
    const pending = arp.learn(1, 0xc6120102, 0x020000000001, 5);
    expect(pending!.length).toBe(Math.floor(ARP_MAX_PENDING_BYTES / 1000));
    expect(arp.counters.pendingDropped).toBe(302 - pending!.length);
    expect(arp.lookup(0xc6120102, 10)).toBe(0x020000000001);
  });

  it('retries three times a second apart, then fails the queued packets', () => {
    const arp = new ArpCache();
    arp.enqueue(1, 0xc6120163, packet(100), 0);
    const requests: number[] = [];
    const failed: number[] = [];
    for (let t = 0; t <= 4000; t += 100) arp.onTimers(t, (_i, ip) => requests.push(ip), (ip, p) => failed.push(ip, p.length));
    expect(requests.length).toBe(2); // the first request went with enqueue; two more, then failure
    expect(failed).toEqual([0xc6120163, 1]);
  });

  it('bounds the table: a scan of many unresolved addresses does not grow it past ARP_MAX_ENTRIES', () => {
    const arp = new ArpCache();
    for (let i = 0; i < ARP_MAX_ENTRIES + 500; i++) arp.enqueue(1, 0xc6130000 + i, packet(60), 0);
    expect(arp.size()).toBe(ARP_MAX_ENTRIES);
    expect(arp.counters.pendingDropped).toBe(500);
  });
});
