import { DropReason } from './drop-reason.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { checksumAdd, checksumFold } from './checksum.js';
import { DOUBLE_ZERO } from './double-field.js';

// IPv4 header (RFC 791 §3.1). Options are tolerated and skipped (the header length covers them); this stack never
// sends any. Fragments parse like any datagram: `moreFragments`/`fragmentOffset` tell the protocol stage to
// reassemble, which is stateful and lives there.

export const IPV4_HEADER_BYTES = 20;
export const IPV4_MAX_HEADER_BYTES = 60;
/** Offset of the header checksum inside the header. */
export const IPV4_CHECKSUM_OFFSET = 10;
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPV4_DEFAULT_TTL = 64;

export interface Ipv4Repr {
  version: number;
  /** In bytes (IHL × 4), options included. */
  headerLength: number;
  /** The whole second byte: DSCP (6 bits) and ECN (2 bits). */
  tos: number;
  totalLength: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes (the field × 8). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  checksum: number;
  src: number;
  dst: number;
  /** Absolute offset of the payload in the parsed buffer. */
  payloadOffset: number;
  /** totalLength − headerLength: Ethernet padding after the datagram is not counted. */
  payloadLength: number;
}

export function createIpv4Repr(): Ipv4Repr {
  return {
    version: 4, headerLength: IPV4_HEADER_BYTES, tos: 0, totalLength: 0, id: 0, dontFragment: false,
    moreFragments: false, fragmentOffset: 0, ttl: IPV4_DEFAULT_TTL, protocol: 0, checksum: 0, src: DOUBLE_ZERO, dst: DOUBLE_ZERO,
    payloadOffset: 0, payloadLength: 0,
  };
}

/**
 * Parses the IPv4 datagram in the `len` bytes at `off` (an Ethernet payload, possibly padded). With
 * `verifyChecksum` false the header checksum is not checked (the receive path already trusts it, `CSUM_VALID`).
 */
export function parseIpv4(b: Uint8Array, off: number, len: number, out: Ipv4Repr, verifyChecksum: boolean): number {
  if (len < IPV4_HEADER_BYTES || off + len > b.length) return DropReason.Truncated;
  const versionIhl = b[off];
  if (versionIhl >>> 4 !== 4) return DropReason.BadVersion;
  const headerLength = (versionIhl & 0x0f) << 2;
  if (headerLength < IPV4_HEADER_BYTES) return DropReason.BadHeaderLength;
  if (headerLength > len) return DropReason.Truncated;
  const totalLength = readU16(b, off + 2);
  if (totalLength < headerLength) return DropReason.BadTotalLength;
  if (totalLength > len) return DropReason.Truncated;
  if (verifyChecksum && checksumFold(checksumAdd(b, off, headerLength, 0)) !== 0) return DropReason.BadChecksum;
  const flagsFragment = readU16(b, off + 6);
  const fragmentOffset = (flagsFragment & 0x1fff) << 3;
  if (fragmentOffset + totalLength - headerLength > 0xffff) return DropReason.BadFragment;
  out.version = 4;
  out.headerLength = headerLength;
  out.tos = b[off + 1];
  out.totalLength = totalLength;
  out.id = readU16(b, off + 4);
  out.dontFragment = (flagsFragment & 0x4000) !== 0;
  out.moreFragments = (flagsFragment & 0x2000) !== 0;
  out.fragmentOffset = fragmentOffset;
  out.ttl = b[off + 8];
  out.protocol = b[off + 9];
  out.checksum = readU16(b, off + 10);
  out.src = readU32(b, off + 12);
  out.dst = readU32(b, off + 16);
  out.payloadOffset = off + headerLength;
  out.payloadLength = totalLength - headerLength;
  return DropReason.Ok;
}

/** What `emitIpv4` needs; an `Ipv4Repr` is one (its version, headerLength, checksum and payload fields are ignored). */
export interface Ipv4EmitFields {
  tos: number;
  /** Header (20) + payload bytes. */
  totalLength: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** In bytes; a multiple of 8. */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
}

/**
 * Writes a 20-byte IPv4 header (no options) with its checksum at `off`; returns the bytes written (20).
 * Throws RangeError for fields no correct caller produces (a total length outside 20–65535, a fragment offset that
 * is not a multiple of 8 or above 65528).
 */
export function emitIpv4(b: Uint8Array, off: number, f: Ipv4EmitFields): number {
  if (f.totalLength < IPV4_HEADER_BYTES || f.totalLength > 0xffff || (f.fragmentOffset & 7) !== 0 || f.fragmentOffset > 0xfff8 || f.fragmentOffset < 0) {
    throw new RangeError(`emitIpv4: totalLength ${f.totalLength} / fragmentOffset ${f.fragmentOffset} out of range`);
  }
  b[off] = 0x45;
  b[off + 1] = f.tos;
  writeU16(b, off + 2, f.totalLength);
  writeU16(b, off + 4, f.id);
  writeU16(b, off + 6, (f.dontFragment ? 0x4000 : 0) | (f.moreFragments ? 0x2000 : 0) | (f.fragmentOffset >>> 3));
  b[off + 8] = f.ttl;
  b[off + 9] = f.protocol;
  b[off + 10] = 0;
  b[off + 11] = 0;
  writeU32(b, off + 12, f.src);
  writeU32(b, off + 16, f.dst);
  writeU16(b, off + IPV4_CHECKSUM_OFFSET, checksumFold(checksumAdd(b, off, IPV4_HEADER_BYTES, 0)));
  return IPV4_HEADER_BYTES;
}
