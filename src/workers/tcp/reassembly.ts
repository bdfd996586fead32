/**
 * IPv4 fragment reassembly (RFC 791 §3.2, RFC 815), bounded: at most MAX_DATAGRAMS in progress and MAX_BYTES
 * buffered; a datagram not complete within REASSEMBLY_TIMEOUT_MS is dropped. Exact duplicates (a wire that
 * duplicates) are ignored; a fragment that overlaps received data differently drops the datagram (RFC 5722's rule,
 * which closes the overlapping-fragment attacks).
 */
export const REASSEMBLY_TIMEOUT_MS = 30_000;
export const MAX_DATAGRAMS = 64;
export const MAX_BYTES = 4 << 20;

interface Datagram {
  key: string;
  /** The first fragment's IP header (its options are not kept: RFC 791 copies only some). */
  header: Uint8Array;
  payload: Uint8Array;
  /** Received [start, end) ranges of the payload, sorted and merged. */
  ranges: number[];
  totalLength: number; // -1 until the last fragment arrived
  expiresAt: number;
}

export interface ReassemblyCounters {
  fragmentsIn: number;
  reassembled: number;
  duplicates: number;
  overlapsDropped: number;
  timeouts: number;
  overflowDrops: number;
}

export interface Reassembled {
  /** Header (20 bytes, total length and fragment fields rewritten) followed by the whole payload. */
  readonly datagram: Uint8Array;
  readonly headerLength: number;
}

export class Reassembler {
  private readonly datagrams = new Map<string, Datagram>();
  private bytes = 0;
  readonly counters: ReassemblyCounters = { fragmentsIn: 0, reassembled: 0, duplicates: 0, overlapsDropped: 0, timeouts: 0, overflowDrops: 0 };

  /**
   * Adds one fragment: `payloadOffset..+payloadLength` of `b` at `fragmentOffset` of the datagram identified by
   * (src, dst, protocol, id). Returns the whole datagram when this fragment completed it, else null.
   */
  insert(
    b: Uint8Array, ipOffset: number, payloadOffset: number, payloadLength: number,
    src: number, dst: number, protocol: number, id: number, fragmentOffset: number, moreFragments: boolean, now: number,
  ): Reassembled | null {
    this.counters.fragmentsIn++;
    const key = `${src}:${dst}:${protocol}:${id}`;
    let d = this.datagrams.get(key);
    const end = fragmentOffset + payloadLength;
    if (moreFragments && (payloadLength & 7) !== 0) return null; // RFC 791: every fragment but the last is 8-aligned
    if (!d) {
      if (this.datagrams.size >= MAX_DATAGRAMS || this.bytes + 65535 > MAX_BYTES) {
        this.counters.overflowDrops++;
        return null;
      }
      d = { key, header: new Uint8Array(20), payload: new Uint8Array(65535), ranges: [], totalLength: -1, expiresAt: now + REASSEMBLY_TIMEOUT_MS };
      this.datagrams.set(key, d);
      this.bytes += 65535;
    }
    if (!moreFragments) {
      if (d.totalLength >= 0 && d.totalLength !== end) return this.drop(d, 'overlapsDropped');
      d.totalLength = end;
    }
    if (d.totalLength >= 0 && end > d.totalLength) return this.drop(d, 'overlapsDropped');
    // Compare with what already arrived: identical bytes are a duplicate, different bytes an overlap attack.
    for (let i = 0; i < d.ranges.length; i += 2) {
      const s = Math.max(d.ranges[i], fragmentOffset), e = Math.min(d.ranges[i + 1], end);
      if (s >= e) continue;
      for (let k = s; k < e; k++) {
        if (d.payload[k] !== b[payloadOffset + k - fragmentOffset]) return this.drop(d, 'overlapsDropped');
      }
    }
    if (covered(d.ranges, fragmentOffset, end)) {
      this.counters.duplicates++;
      return null;
    }
    d.payload.set(b.subarray(payloadOffset, payloadOffset + payloadLength), fragmentOffset);
    if (fragmentOffset === 0) d.header.set(b.subarray(ipOffset, ipOffset + 20));
    addRange(d.ranges, fragmentOffset, end);
    if (d.totalLength < 0 || d.ranges.length !== 2 || d.ranges[0] !== 0 || d.ranges[1] !== d.totalLength) return null;
    this.datagrams.delete(key);
    this.bytes -= 65535;
    this.counters.reassembled++;
    const datagram = new Uint8Array(20 + d.totalLength);
    datagram.set(d.header);
    datagram[0] = 0x45; // options are not carried over
    const total = 20 + d.totalLength;
    datagram[2] = total >>> 8;
    datagram[3] = total;
    datagram[6] &= 0x40; // keep DF, clear MF and the offset
    datagram[7] = 0;
    datagram.set(d.payload.subarray(0, d.totalLength), 20);
    return { datagram, headerLength: 20 };
  }

  private drop(d: Datagram, counter: 'overlapsDropped'): null {
    this.datagrams.delete(d.key);
    this.bytes -= 65535;
    this.counters[counter]++;
    return null;
  }

  nextTimer(): number {
    let at = Infinity;
    for (const d of this.datagrams.values()) if (d.expiresAt < at) at = d.expiresAt;
    return at;
  }

  onTimers(now: number): void {
    for (const d of this.datagrams.values()) {
      if (d.expiresAt > now) continue;
      this.datagrams.delete(d.key);
      this.bytes -= 65535;
      this.counters.timeouts++;
    }
  }

  inProgress(): number {
    return this.datagrams.size;
  }
}

function covered(ranges: number[], start: number, end: number): boolean {
  for (let i = 0; i < ranges.length; i += 2) if (ranges[i] <= start && end <= ranges[i + 1]) return true;
  return false;
}

/** Adds [start, end) to a sorted list of disjoint ranges, merging neighbours. */
function addRange(ranges: number[], start: number, end: number): void {
  let s = start, e = end;
  const out: number[] = [];
  let placed = false;
  for (let i = 0; i < ranges.length; i += 2) {
    const rs = ranges[i], re = ranges[i + 1];
    if (re < s) out.push(rs, re);
    else if (rs > e) {
      if (!placed) { out.push(s, e); placed = true; }
      out.push(rs, re);
    } else {
      s = Math.min(s, rs);
      e = Math.max(e, re);
    }
  }
  if (!placed) out.push(s, e);
  ranges.length = 0;
  ranges.push(...out);
}
