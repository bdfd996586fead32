import { DropReason } from './drop-reason.js';
import { readU16, writeU16 } from './bytes.js';
import { checksumAdd, checksumFold } from './checksum.js';

// UDP (RFC 768). Over IPv4 a zero checksum means "none sent"; a computed zero is sent as 0xffff.

export const UDP_HEADER_BYTES = 8;
/** Offset of the checksum inside the header (the `csumOffset` of a `CSUM_PARTIAL` record). */
export const UDP_CHECKSUM_OFFSET = 6;

export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  /** The length field: header + payload. */
  length: number;
  /** As received; 0 means the sender sent none. */
  checksum: number;
  /** Absolute offset of the payload in the parsed buffer. */
  payloadOffset: number;
  payloadLength: number;
}

export function createUdpRepr(): UdpRepr {
  return { srcPort: 0, dstPort: 0, length: 0, checksum: 0, payloadOffset: 0, payloadLength: 0 };
}

/**
 * Parses the UDP datagram in the `len` bytes at `off` (the IPv4 payload). `pseudoSum` is
 * `pseudoHeaderSum(src, dst, IPPROTO_UDP, len)` to verify the checksum, or -1 to skip verification (`CSUM_VALID`).
 * The UDP length field may be shorter than `len` (bytes after it are ignored, as Linux trims them); the pseudo-header
 * sum is corrected to the length field before verifying.
 */
export function parseUdp(b: Uint8Array, off: number, len: number, out: UdpRepr, pseudoSum: number): number {
  if (len < UDP_HEADER_BYTES || off + len > b.length) return DropReason.Truncated;
  const length = readU16(b, off + 4);
  if (length < UDP_HEADER_BYTES) return DropReason.BadUdpLength;
  if (length > len) return DropReason.Truncated;
  const checksum = readU16(b, off + 6);
  if (pseudoSum >= 0 && checksum !== 0) {
    // pseudoSum counted `len` as a plain addend; swap it for the length the checksum was computed with.
    if (checksumFold(checksumAdd(b, off, length, pseudoSum - len + length)) !== 0) return DropReason.BadChecksum;
  }
  out.srcPort = readU16(b, off);
  out.dstPort = readU16(b, off + 2);
  out.length = length;
  out.checksum = checksum;
  out.payloadOffset = off + UDP_HEADER_BYTES;
  out.payloadLength = length - UDP_HEADER_BYTES;
  return DropReason.Ok;
}

function writeUdpHeader(b: Uint8Array, off: number, srcPort: number, dstPort: number, length: number): void {
  writeU16(b, off, srcPort);
  writeU16(b, off + 2, dstPort);
  writeU16(b, off + 4, length);
  b[off + 6] = 0;
  b[off + 7] = 0;
}

function storeUdpChecksum(b: Uint8Array, off: number, sum: number): void {
  const checksum = checksumFold(sum);
  writeU16(b, off + UDP_CHECKSUM_OFFSET, checksum === 0 ? 0xffff : checksum);
}

/**
 * Writes a UDP header at `off` for the `payloadLength` bytes already behind it and computes the checksum over
 * header + payload with `pseudoSum` (= `pseudoHeaderSum(src, dst, IPPROTO_UDP, 8 + payloadLength)`), or sends
 * none with `pseudoSum` -1. Returns the datagram length (8 + payloadLength).
 */
export function emitUdp(b: Uint8Array, off: number, srcPort: number, dstPort: number, payloadLength: number, pseudoSum: number): number {
  const length = UDP_HEADER_BYTES + payloadLength;
  if (length > 0xffff) throw new RangeError(`emitUdp: payload of ${payloadLength} bytes does not fit a datagram`);
  writeUdpHeader(b, off, srcPort, dstPort, length);
  if (pseudoSum >= 0) storeUdpChecksum(b, off, checksumAdd(b, off, length, pseudoSum));
  return length;
}

/**
 * Like `emitUdp`, for a payload whose sum is already known because it was copied in with `copyWithChecksum`:
 * `pseudoAndPayloadSum` = that copy's result seeded with the pseudo-header sum. Only the 8 header bytes are summed.
 */
export function emitUdpSummed(b: Uint8Array, off: number, srcPort: number, dstPort: number, payloadLength: number, pseudoAndPayloadSum: number): number {
  const length = UDP_HEADER_BYTES + payloadLength;
  if (length > 0xffff) throw new RangeError(`emitUdpSummed: payload of ${payloadLength} bytes does not fit a datagram`);
  writeUdpHeader(b, off, srcPort, dstPort, length);
  storeUdpChecksum(b, off, checksumAdd(b, off, UDP_HEADER_BYTES, pseudoAndPayloadSum));
  return length;
}
