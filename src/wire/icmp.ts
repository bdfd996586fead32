import { DropReason } from './drop-reason.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { checksumAdd, checksumFold, copyWithChecksum } from './checksum.js';
import { DOUBLE_ZERO } from './double-field.js';

// ICMPv4 (RFC 792): echo request/reply, and the three error messages a TCP/UDP host acts on — destination
// unreachable (with the next-hop MTU of RFC 1191 for "fragmentation needed"), time exceeded and parameter problem.
// An error quotes the offending datagram: its IPv4 header and at least the first 8 bytes of its payload, enough for
// the ports and (TCP) the sequence number (RFC 5927 §4.1). The checksum covers the whole ICMP message.

export const ICMP_HEADER_BYTES = 8;
export const ICMP_ECHO_REPLY = 0;
export const ICMP_DEST_UNREACHABLE = 3;
export const ICMP_ECHO_REQUEST = 8;
export const ICMP_TIME_EXCEEDED = 11;
export const ICMP_PARAMETER_PROBLEM = 12;

/** Destination unreachable codes (RFC 792, RFC 1191, RFC 1812 §5.2.7.1). */
export const IcmpUnreachableCode = {
  Net: 0,
  Host: 1,
  Protocol: 2,
  Port: 3,
  FragmentationNeeded: 4,
  SourceRouteFailed: 5,
  AdminProhibited: 13,
} as const;

export interface IcmpRepr {
  type: number;
  code: number;
  checksum: number;
  /** Echo identifier and sequence number; 0 for errors. */
  id: number;
  seq: number;
  /** Absolute offset and length of what follows the 8-byte header: echo data, or an error's quoted datagram. */
  dataOffset: number;
  dataLength: number;
  /** Destination unreachable / fragmentation needed: the next-hop MTU (0 from a pre-RFC 1191 router); else 0. */
  nextHopMtu: number;
  /** Parameter problem: the octet the pointer names; else 0. */
  pointer: number;
  /** Errors only (0 otherwise): the quoted datagram's IPv4 header length, protocol, addresses. */
  quotedHeaderLength: number;
  quotedProtocol: number;
  quotedSrc: number;
  quotedDst: number;
  /** Absolute offset of the quoted transport header; at least 8 bytes of it are present. */
  quotedTransportOffset: number;
  /** The first two 16-bit words of the quoted transport header: the ports for TCP and UDP. */
  quotedSrcPort: number;
  quotedDstPort: number;
}

export function createIcmpRepr(): IcmpRepr {
  return {
    type: 0, code: 0, checksum: 0, id: 0, seq: 0, dataOffset: 0, dataLength: 0, nextHopMtu: 0, pointer: 0,
    quotedHeaderLength: 0, quotedProtocol: 0, quotedSrc: DOUBLE_ZERO, quotedDst: DOUBLE_ZERO, quotedTransportOffset: 0,
    quotedSrcPort: 0, quotedDstPort: 0,
  };
}

/** True for the error types whose body is a quoted datagram. */
export function isIcmpError(type: number): boolean {
  return type === ICMP_DEST_UNREACHABLE || type === ICMP_TIME_EXCEEDED || type === ICMP_PARAMETER_PROBLEM;
}

/** Parses and checksum-verifies the ICMP message in the `len` bytes at `off` (the IPv4 payload). */
export function parseIcmp(b: Uint8Array, off: number, len: number, out: IcmpRepr): number {
  if (len < ICMP_HEADER_BYTES || off + len > b.length) return DropReason.Truncated;
  const type = b[off];
  const echo = type === ICMP_ECHO_REQUEST || type === ICMP_ECHO_REPLY;
  if (!echo && !isIcmpError(type)) return DropReason.UnknownIcmpType;
  if (checksumFold(checksumAdd(b, off, len, 0)) !== 0) return DropReason.BadChecksum;
  const dataOffset = off + ICMP_HEADER_BYTES;
  const dataLength = len - ICMP_HEADER_BYTES;
  if (echo) {
    out.id = readU16(b, off + 4);
    out.seq = readU16(b, off + 6);
    out.nextHopMtu = 0;
    out.pointer = 0;
    out.quotedHeaderLength = 0;
    out.quotedProtocol = 0;
    out.quotedSrc = 0;
    out.quotedDst = 0;
    out.quotedTransportOffset = 0;
    out.quotedSrcPort = 0;
    out.quotedDstPort = 0;
  } else {
    // The quote must hold an IPv4 header and 8 bytes after it (RFC 792; RFC 1812 §4.3.2.3 allows more).
    if (dataLength < 20 + 8) return DropReason.BadIcmpQuote;
    const versionIhl = b[dataOffset];
    const quotedHeaderLength = (versionIhl & 0x0f) << 2;
    if (versionIhl >>> 4 !== 4 || quotedHeaderLength < 20 || dataLength < quotedHeaderLength + 8) {
      return DropReason.BadIcmpQuote;
    }
    out.id = 0;
    out.seq = 0;
    out.nextHopMtu = type === ICMP_DEST_UNREACHABLE && b[off + 1] === IcmpUnreachableCode.FragmentationNeeded ? readU16(b, off + 6) : 0;
    out.pointer = type === ICMP_PARAMETER_PROBLEM ? b[off + 4] : 0;
    out.quotedHeaderLength = quotedHeaderLength;
    out.quotedProtocol = b[dataOffset + 9];
    out.quotedSrc = readU32(b, dataOffset + 12);
    out.quotedDst = readU32(b, dataOffset + 16);
    const transport = dataOffset + quotedHeaderLength;
    out.quotedTransportOffset = transport;
    out.quotedSrcPort = readU16(b, transport);
    out.quotedDstPort = readU16(b, transport + 2);
  }
  out.type = type;
  out.code = b[off + 1];
  out.checksum = readU16(b, off + 2);
  out.dataOffset = dataOffset;
  out.dataLength = dataLength;
  return DropReason.Ok;
}

/** Writes the 8-byte header with its checksum over header + the `bodyLength` bytes already after it. */
function finishIcmp(b: Uint8Array, off: number, type: number, code: number, rest: number, bodySum: number, bodyLength: number): number {
  b[off] = type;
  b[off + 1] = code;
  b[off + 2] = 0;
  b[off + 3] = 0;
  writeU32(b, off + 4, rest);
  writeU16(b, off + 2, checksumFold(checksumAdd(b, off, ICMP_HEADER_BYTES, bodySum)));
  return ICMP_HEADER_BYTES + bodyLength;
}

/**
 * Writes an echo request or reply at `off`: header, then `dataLength` bytes of `data` from `dataOffset` copied
 * behind it (with the checksum summed during the copy). If the data is already in place
 * (`data === b && dataOffset === off + 8`, e.g. a reply built over its request) nothing is copied.
 * Returns the ICMP message length (8 + dataLength).
 */
export function emitIcmpEcho(
  b: Uint8Array, off: number, type: typeof ICMP_ECHO_REQUEST | typeof ICMP_ECHO_REPLY, id: number, seq: number,
  data: Uint8Array, dataOffset: number, dataLength: number,
): number {
  const bodyOffset = off + ICMP_HEADER_BYTES;
  const bodySum = data === b && dataOffset === bodyOffset
    ? checksumAdd(b, bodyOffset, dataLength, 0)
    : copyWithChecksum(data, dataOffset, b, bodyOffset, dataLength, 0);
  return finishIcmp(b, off, type, 0, ((id & 0xffff) * 0x10000 + (seq & 0xffff)) >>> 0, bodySum, dataLength);
}

/**
 * Writes an error message (destination unreachable, time exceeded, parameter problem) at `off`, quoting
 * `quotedLength` bytes of the offending datagram (its IP header + at least 8 bytes; RFC 1812 §4.3.2.3 allows up to
 * 576 bytes in all) from `quoted` at `quotedOffset`, which must not overlap the output. `restOfHeader` is bytes
 * 4–7: 0, or `icmpNextHopMtuField(mtu)` for fragmentation needed, or `icmpPointerField(p)` for parameter problem.
 * Returns the ICMP message length (8 + quotedLength).
 */
export function emitIcmpError(
  b: Uint8Array, off: number, type: number, code: number, restOfHeader: number,
  quoted: Uint8Array, quotedOffset: number, quotedLength: number,
): number {
  const bodySum = copyWithChecksum(quoted, quotedOffset, b, off + ICMP_HEADER_BYTES, quotedLength, 0);
  return finishIcmp(b, off, type, code, restOfHeader >>> 0, bodySum, quotedLength);
}

/** Bytes 4–7 of "fragmentation needed": unused (0) then the next-hop MTU (RFC 1191 §4). */
export function icmpNextHopMtuField(mtu: number): number {
  return mtu & 0xffff;
}

/** Bytes 4–7 of "parameter problem": the pointer octet, then 24 unused bits. */
export function icmpPointerField(pointer: number): number {
  return ((pointer & 0xff) * 0x1000000) >>> 0;
}
