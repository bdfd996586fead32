import { FRAME_CSUM_PARTIAL, FRAME_CSUM_VALID, forEachRecord } from '../../shared-ring/index.js';
import {
  BROADCAST_MAC, DROP_REASON_COUNT, DropReason, ETHERNET_HEADER_BYTES, ETHERTYPE_IPV4, IPPROTO_TCP, IPPROTO_UDP,
  checksumAdd, checksumFold, createIpv4Repr, dropReasonName, parseIpv4, pseudoHeaderSum, readMac,
} from '../../wire/index.js';
import { FRAME_DISCARD, STAGE_BATCH, STAGE_BATCH_BYTES, type Stage, type StageCounters } from '../stage-common.js';
import { DeviceStage, type DeviceInterface } from '../device-stage.js';


const RECORD_FLAGS_BACK = 18 - 4; // the record's u16 flags sit 14 bytes before its frame
const PROTOCOL_CHECKS = -1;
const NOT_FOR_US = -2;

/**
 * The receive stage: batches frames from each device into that interface's rx ring, and before publishing them
 * checks what can be checked without state — Ethernet destination, IPv4 header, and the TCP/UDP checksum —
 * marking each frame CSUM_VALID or DISCARD in place. The protocol stage then trusts CSUM_VALID and skips the sum:
 * the checksum work runs here, in parallel with protocol processing, when the stages are in different threads.
 */
export class RxStage extends DeviceStage implements Stage {
  private readonly ip = createIpv4Repr();
  private readonly drops = new Float64Array(DROP_REASON_COUNT);
  private readonly c = { framesIn: 0, bytesIn: 0, notForUs: 0, checksumsVerified: 0, ringFull: 0 };
  private current: DeviceInterface | null = null;
  private readonly verifyRecord = (frameOffset: number, length: number): void => this.verify(frameOffset, length);


  poll(now: number): number {
    let work = 0;
    for (const iface of this.interfaces.values()) {
      if (iface.readInPlace) continue;
      const ring = iface.ring;
      if (ring.writableBytes() < ring.maxFrameBytes) {
        this.c.ringFull++; // protocol stage is behind: leave frames in the device (its queue, or the wire ring)
        continue;
      }
      const start = ring.producerPosition();
      const n = iface.device.receive(ring, STAGE_BATCH, now, STAGE_BATCH_BYTES);
      if (n === 0) continue;
      this.current = iface;
      forEachRecord(ring, start, ring.producerPosition(), this.verifyRecord);
      this.current = null;
      ring.publish();
      this.c.framesIn += n;
      work += n;
    }
    return work;
  }

  private verify(off: number, len: number): void {
    const iface = this.current!;
    const b = iface.ring.bytes;
    const flagsAt = off - RECORD_FLAGS_BACK;
    const flags = b[flagsAt] | (b[flagsAt + 1] << 8);
    this.c.bytesIn += len;
    let verdict = this.check(iface, b, off, len, flags);
    if (verdict === NOT_FOR_US) {
      this.c.notForUs++;
      verdict = flags | FRAME_DISCARD;
    } else if (verdict === PROTOCOL_CHECKS) {
      verdict = flags;
    } else if (verdict === DropReason.Ok) {
      verdict = flags | FRAME_CSUM_VALID;
    } else {
      this.drops[verdict]++;
      verdict = flags | FRAME_DISCARD;
    }
    b[flagsAt] = verdict & 0xff;
    b[flagsAt + 1] = verdict >>> 8;
  }

  /** Ok (checksums verified), a drop reason, NOT_FOR_US, or PROTOCOL_CHECKS (ARP, fragments: the protocol stage looks). */
  private check(iface: DeviceInterface, b: Uint8Array, off: number, len: number, flags: number): number {
    if (len < ETHERNET_HEADER_BYTES) return DropReason.Truncated;
    if (iface.device.needsArp) {
      const dst = readMac(b, off);
      if (dst !== iface.device.mac && dst !== BROADCAST_MAC) return NOT_FOR_US;
    }
    if ((b[off + 12] << 8 | b[off + 13]) !== ETHERTYPE_IPV4) return PROTOCOL_CHECKS;
    // The device (or the kernel that handed us the frame) already vouched for it.
    if (flags & (FRAME_CSUM_VALID | FRAME_CSUM_PARTIAL)) return DropReason.Ok;
    const ip = this.ip;
    const r = parseIpv4(b, off + ETHERNET_HEADER_BYTES, len - ETHERNET_HEADER_BYTES, ip, true);
    if (r !== DropReason.Ok) return r;
    if (ip.moreFragments || ip.fragmentOffset > 0) return PROTOCOL_CHECKS;
    if (ip.protocol !== IPPROTO_TCP && ip.protocol !== IPPROTO_UDP) return PROTOCOL_CHECKS;
    if (ip.protocol === IPPROTO_UDP && ip.payloadLength >= 8 && b[ip.payloadOffset + 6] === 0 && b[ip.payloadOffset + 7] === 0) {
      return DropReason.Ok; // UDP without checksum (RFC 768 allows it)
    }
    const sum = checksumAdd(b, ip.payloadOffset, ip.payloadLength, pseudoHeaderSum(ip.src, ip.dst, ip.protocol, ip.payloadLength));
    this.c.checksumsVerified++;
    return checksumFold(sum) === 0 ? DropReason.Ok : DropReason.BadChecksum;
  }


  counters(): StageCounters {
    const out: StageCounters = { ...this.c };
    for (let i = 1; i < this.drops.length; i++) if (this.drops[i]) out[`drop${dropReasonName(i)}`] = this.drops[i];
    return this.deviceCounters(out);
  }

}
