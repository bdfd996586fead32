/**
 * The neighbour cache for ARP (RFC 826, RFC 1122 §2.3.2): IPv4 → MAC per interface, with expiry, and a bounded queue
 * of packets waiting for a reply. Time is passed in. Pending packets are copies (the slow path may allocate).
 */
export const ARP_ENTRY_TTL_MS = 60_000;
export const ARP_RETRY_MS = 1_000;
export const ARP_MAX_REQUESTS = 3;
/**
 * RFC 1122 §2.3.2.2 asks for at least one queued packet per unresolved address; like Linux (unres_qlen_bytes) we
 * keep a socket buffer's worth, so the first burst to a new neighbour survives.
 */
export const ARP_MAX_PENDING_BYTES = 212_992;
/** Entries at most, resolved or not (Linux's gc_thresh3 default). */
export const ARP_MAX_ENTRIES = 1024;

export interface PendingPacket {
  /** The IP packet (no Ethernet header). */
  readonly packet: Uint8Array;
  /** Who to tell if resolution fails: an opaque origin the stage understands. */
  readonly origin: number;
}

interface Entry {
  ifIndex: number;
  mac: number; // -1 while incomplete
  expiresAt: number;
  requestsSent: number;
  nextRequestAt: number;
  pending: PendingPacket[];
  pendingBytes: number;
}

export interface ArpCounters {
  pendingDropped: number;
  resolutionFailures: number;
}

/** Counters plus a snapshot of how many entries each interface holds, keyed `entries.if<index>` (stats). */
export type ArpCounterSnapshot = Readonly<ArpCounters> & Readonly<Record<string, number>>;

export class ArpCache {
  private readonly entries = new Map<number, Entry>();
  private readonly counts: ArpCounters = { pendingDropped: 0, resolutionFailures: 0 };

  /**
   * A fresh snapshot: the counters and the entries per interface, so a detached interface is seen to take its
   * entries with it (NetBSD's loadable devices: neighbours follow the interface).
   */
  get counters(): ArpCounterSnapshot {
    const out: Record<string, number> = { ...this.counts };
    for (const e of this.entries.values()) out[`entries.if${e.ifIndex}`] = (out[`entries.if${e.ifIndex}`] ?? 0) + 1;
    return out as ArpCounterSnapshot;
  }

  /** The MAC of `ip` if known and fresh, else -1. */
  lookup(ip: number, now: number): number {
    const e = this.entries.get(ip);
    return e && e.mac >= 0 && e.expiresAt > now ? e.mac : -1;
  }

  /** Learns or refreshes `ip` → `mac` (RFC 826's merge). Returns packets that were waiting for it, if any. */
  learn(ifIndex: number, ip: number, mac: number, now: number): PendingPacket[] | null {
    let e = this.entries.get(ip);
    if (!e) {
      if (this.entries.size >= ARP_MAX_ENTRIES) return null; // full: the next packet to it resolves again
      e = { ifIndex, mac, expiresAt: now + ARP_ENTRY_TTL_MS, requestsSent: 0, nextRequestAt: Infinity, pending: [], pendingBytes: 0 };
      this.entries.set(ip, e);
      return null;
    }
    e.ifIndex = ifIndex;
    e.mac = mac;
    e.expiresAt = now + ARP_ENTRY_TTL_MS;
    e.requestsSent = 0;
    e.nextRequestAt = Infinity;
    if (!e.pending.length) return null;
    const pending = e.pending;
    e.pending = [];
    e.pendingBytes = 0;
    return pending;
  }

  /** True if an entry for `ip` exists (RFC 826: update only what we already know, unless we are the target). */
  has(ip: number): boolean {
    return this.entries.has(ip);
  }

  /**
   * Queues a packet for an unresolved `ip`. Returns true when a request should be sent now (first packet for
   * this address); the queue keeps the newest ARP_MAX_PENDING_BYTES.
   */
  enqueue(ifIndex: number, ip: number, packet: PendingPacket, now: number): boolean {
    let e = this.entries.get(ip);
    if (!e) {
      if (this.entries.size >= ARP_MAX_ENTRIES) {
        // Neighbour table full (Linux's gc_thresh3): a scan of many unresolved addresses must not grow memory.
        this.counts.pendingDropped++;
        return false;
      }
      e = { ifIndex, mac: -1, expiresAt: 0, requestsSent: 0, nextRequestAt: now, pending: [], pendingBytes: 0 };
      this.entries.set(ip, e);
    } else if (e.mac >= 0 && e.expiresAt <= now) {
      e.mac = -1; // expired: resolve again
      e.requestsSent = 0;
      e.nextRequestAt = now;
    }
    while (e.pending.length > 0 && e.pendingBytes + packet.packet.length > ARP_MAX_PENDING_BYTES) {
      e.pendingBytes -= e.pending.shift()!.packet.length;
      this.counts.pendingDropped++;
    }
    e.pending.push(packet);
    e.pendingBytes += packet.packet.length;
    if (e.requestsSent === 0 && e.nextRequestAt <= now) {
      e.requestsSent = 1;
      e.nextRequestAt = now + ARP_RETRY_MS;
      return true;
    }
    return false;
  }

  nextTimer(): number {
    let at = Infinity;
    for (const e of this.entries.values()) if (e.mac < 0 && e.nextRequestAt < at) at = e.nextRequestAt;
    return at;
  }

  /**
   * Runs retransmissions and expiry. Calls `request(ifIndex, ip)` for each request to resend and `fail(ip, packets)`
   * for addresses that did not answer ARP_MAX_REQUESTS requests.
   */
  onTimers(
    now: number,
    request: (ifIndex: number, ip: number) => void,
    fail: (ip: number, pending: PendingPacket[]) => void,
  ): void {
    for (const [ip, e] of this.entries) {
      if (e.mac >= 0) {
        if (e.expiresAt + ARP_ENTRY_TTL_MS <= now) this.entries.delete(ip); // long stale: forget it
        continue;
      }
      if (e.nextRequestAt > now) continue;
      if (e.requestsSent >= ARP_MAX_REQUESTS) {
        this.entries.delete(ip);
        this.counts.resolutionFailures++;
        fail(ip, e.pending);
        continue;
      }
      e.requestsSent++;
      e.nextRequestAt = now + ARP_RETRY_MS;
      request(e.ifIndex, ip);
    }
  }

  /** Forgets everything learned through an interface that is going away; its queued packets are failed. */
  forgetInterface(ifIndex: number, fail: (ip: number, pending: PendingPacket[]) => void): void {
    for (const [ip, e] of this.entries) {
      if (e.ifIndex !== ifIndex) continue;
      this.entries.delete(ip);
      if (e.pending.length) fail(ip, e.pending);
    }
  }

  size(): number {
    return this.entries.size;
  }
}
