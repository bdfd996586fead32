import { DropReason } from './drop-reason.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { checksumAdd, checksumFold } from './checksum.js';
import { DOUBLE_ZERO } from './double-field.js';

// TCP header and options (RFC 9293 §3.1, §3.2). Options decoded: MSS (RFC 9293 §3.7.1), window scale and
// timestamps (RFC 7323 §2.2, §3.2), SACK-permitted and SACK blocks (RFC 2018 §2, §3). Unknown kinds are skipped
// by their length and counted (RFC 9293 §3.1: "must be prepared to handle an illegal option length"). A length
// byte that is < 2, runs past the header, or does not match a known kind's fixed size drops the segment.

export const TCP_HEADER_BYTES = 20;
export const TCP_MAX_HEADER_BYTES = 60;
export const TCP_MAX_OPTIONS_BYTES = 40;
/** Offset of the checksum inside the header (the `csumOffset` of a `CSUM_PARTIAL` record). */
export const TCP_CHECKSUM_OFFSET = 16;
/** A SACK option fits at most 4 blocks (2 + 4 × 8 = 34 of the 40 option bytes; 3 next to timestamps). */
export const TCP_MAX_SACK_BLOCKS = 4;

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
/** ECN-Echo (RFC 3168 §6.1). */
export const TCP_ECE = 0x40;
/** Congestion Window Reduced (RFC 3168 §6.1). */
export const TCP_CWR = 0x80;
/** The same flag bits as one object (`TcpFlag.SYN | TcpFlag.ACK`). */
export const TcpFlag = {
  FIN: TCP_FIN, SYN: TCP_SYN, RST: TCP_RST, PSH: TCP_PSH, ACK: TCP_ACK, URG: TCP_URG, ECE: TCP_ECE, CWR: TCP_CWR,
} as const;

/** Option kinds (IANA "TCP Option Kind Numbers"). */
export const TcpOptionKind = {
  EndOfList: 0,
  Nop: 1,
  Mss: 2,
  WindowScale: 3,
  SackPermitted: 4,
  Sack: 5,
  Timestamps: 8,
} as const;

export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  /** Unsigned 32-bit sequence and acknowledgment numbers. */
  seq: number;
  ack: number;
  /** Header length in bytes, options included (the data offset field × 4). Set by parse; emit computes its own. */
  dataOffset: number;
  /** Bits of TCP_FIN … TCP_CWR. */
  flags: number;
  /** The raw 16-bit window field (unscaled). */
  window: number;
  checksum: number;
  urgent: number;
  /** Absolute offset of the payload in the parsed buffer. */
  payloadOffset: number;
  payloadLength: number;
  /** MSS option value, -1 if absent. */
  mss: number;
  /** Window scale shift as sent, -1 if absent. RFC 7323 §2.3 says to use 14 for a larger value: that is TCP's call. */
  windowScale: number;
  sackPermitted: boolean;
  /** How many (left, right) pairs of `sackBlocks` are valid, 0–4. */
  sackBlockCount: number;
  /** Left, right edge pairs: block k is [sackBlocks[2k], sackBlocks[2k+1]). Allocated once with the repr. */
  sackBlocks: Uint32Array;
  tsPresent: boolean;
  tsVal: number;
  tsEcr: number;
  /** Options of kinds not decoded here, skipped by length. */
  unknownOptionCount: number;
}

export function createTcpRepr(): TcpRepr {
  return {
    srcPort: 0, dstPort: 0, seq: DOUBLE_ZERO, ack: DOUBLE_ZERO, dataOffset: TCP_HEADER_BYTES, flags: 0, window: 0, checksum: 0, urgent: 0,
    payloadOffset: 0, payloadLength: 0, mss: -1, windowScale: -1, sackPermitted: false, sackBlockCount: 0,
    sackBlocks: new Uint32Array(2 * TCP_MAX_SACK_BLOCKS), tsPresent: false, tsVal: DOUBLE_ZERO, tsEcr: DOUBLE_ZERO,
    unknownOptionCount: 0,
  };
}

/** Copies every field of `from` into `to`, SACK blocks included (`to` keeps its own array). */
export function copyTcpRepr(from: TcpRepr, to: TcpRepr): void {
  to.srcPort = from.srcPort;
  to.dstPort = from.dstPort;
  to.seq = from.seq;
  to.ack = from.ack;
  to.dataOffset = from.dataOffset;
  to.flags = from.flags;
  to.window = from.window;
  to.checksum = from.checksum;
  to.urgent = from.urgent;
  to.payloadOffset = from.payloadOffset;
  to.payloadLength = from.payloadLength;
  to.mss = from.mss;
  to.windowScale = from.windowScale;
  to.sackPermitted = from.sackPermitted;
  to.sackBlockCount = from.sackBlockCount;
  to.sackBlocks.set(from.sackBlocks);
  to.tsPresent = from.tsPresent;
  to.tsVal = from.tsVal;
  to.tsEcr = from.tsEcr;
  to.unknownOptionCount = from.unknownOptionCount;
}

/**
 * Parses the TCP segment in the `len` bytes at `off` (the IPv4 payload). `pseudoSum` is
 * `pseudoHeaderSum(src, dst, IPPROTO_TCP, len)` to verify the checksum, or -1 to skip verification (`CSUM_VALID`).
 * `out` holds meaningful values only when the result is `DropReason.Ok`.
 */
export function parseTcp(b: Uint8Array, off: number, len: number, out: TcpRepr, pseudoSum: number): number {
  if (len < TCP_HEADER_BYTES || off + len > b.length) return DropReason.Truncated;
  const dataOffset = (b[off + 12] >>> 4) << 2;
  if (dataOffset < TCP_HEADER_BYTES) return DropReason.BadHeaderLength;
  if (dataOffset > len) return DropReason.Truncated;
  if (pseudoSum >= 0 && checksumFold(checksumAdd(b, off, len, pseudoSum)) !== 0) return DropReason.BadChecksum;
  out.mss = -1;
  out.windowScale = -1;
  out.sackPermitted = false;
  out.sackBlockCount = 0;
  out.tsPresent = false;
  out.tsVal = 0;
  out.tsEcr = 0;
  out.unknownOptionCount = 0;
  const optionsResult = parseTcpOptions(b, off + TCP_HEADER_BYTES, off + dataOffset, out);
  if (optionsResult !== DropReason.Ok) return optionsResult;
  out.srcPort = readU16(b, off);
  out.dstPort = readU16(b, off + 2);
  out.seq = readU32(b, off + 4);
  out.ack = readU32(b, off + 8);
  out.dataOffset = dataOffset;
  out.flags = b[off + 13];
  out.window = readU16(b, off + 14);
  out.checksum = readU16(b, off + 16);
  out.urgent = readU16(b, off + 18);
  out.payloadOffset = off + dataOffset;
  out.payloadLength = len - dataOffset;
  return DropReason.Ok;
}

function parseTcpOptions(b: Uint8Array, start: number, end: number, out: TcpRepr): number {
  let i = start;
  while (i < end) {
    const kind = b[i];
    if (kind === TcpOptionKind.EndOfList) break;
    if (kind === TcpOptionKind.Nop) {
      i++;
      continue;
    }
    if (i + 1 >= end) return DropReason.BadOption;
    const length = b[i + 1];
    if (length < 2 || i + length > end) return DropReason.BadOption;
    switch (kind) {
      case TcpOptionKind.Mss:
        if (length !== 4) return DropReason.BadOption;
        out.mss = readU16(b, i + 2);
        break;
      case TcpOptionKind.WindowScale:
        if (length !== 3) return DropReason.BadOption;
        out.windowScale = b[i + 2];
        break;
      case TcpOptionKind.SackPermitted:
        if (length !== 2) return DropReason.BadOption;
        out.sackPermitted = true;
        break;
      case TcpOptionKind.Sack: {
        const count = (length - 2) >>> 3;
        if (((length - 2) & 7) !== 0 || count < 1 || count > TCP_MAX_SACK_BLOCKS) return DropReason.BadOption;
        const blocks = out.sackBlocks;
        for (let k = 0; k < count; k++) {
          blocks[2 * k] = readU32(b, i + 2 + 8 * k);
          blocks[2 * k + 1] = readU32(b, i + 6 + 8 * k);
        }
        out.sackBlockCount = count;
        break;
      }
      case TcpOptionKind.Timestamps:
        if (length !== 10) return DropReason.BadOption;
        out.tsPresent = true;
        out.tsVal = readU32(b, i + 2);
        out.tsEcr = readU32(b, i + 6);
        break;
      default:
        out.unknownOptionCount++;
    }
    i += length;
  }
  return DropReason.Ok;
}

/** What `emitTcpHeader` needs; a `TcpRepr` is one. */
export interface TcpEmitFields {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  flags: number;
  window: number;
  urgent: number;
  /** -1 = no option. */
  mss: number;
  /** -1 = no option. */
  windowScale: number;
  sackPermitted: boolean;
  sackBlockCount: number;
  sackBlocks: Uint32Array;
  tsPresent: boolean;
  tsVal: number;
  tsEcr: number;
}

/**
 * Bytes of options `emitTcpHeader` writes for these fields, a multiple of 4. The layout is Linux's, so a SYN with
 * everything is 20 bytes: MSS(4) | SACK-permitted(2) + timestamps(10) | NOP + window scale(3); without timestamps
 * SACK-permitted is NOP NOP-padded to 4; SACK blocks come as NOP NOP SACK(2 + 8n) after the timestamps.
 */
export function tcpOptionsLength(f: TcpEmitFields): number {
  let length = 0;
  if (f.mss >= 0) length += 4;
  if (f.tsPresent || f.sackPermitted) length += f.tsPresent ? 12 : 4;
  if (f.windowScale >= 0) length += 4;
  if (f.sackBlockCount > 0) length += 4 + 8 * f.sackBlockCount;
  return length;
}

/**
 * Writes the TCP header and options at `off` with a zero checksum; returns the header length. Finish the checksum
 * with `finishTcpChecksum` (payload in place) or `finishTcpChecksumSummed` (payload summed while copied).
 * Throws RangeError if the options do not fit in 40 bytes (a caller bug: at most 3 SACK blocks with timestamps).
 */
export function emitTcpHeader(b: Uint8Array, off: number, f: TcpEmitFields): number {
  const optionsLength = tcpOptionsLength(f);
  if (optionsLength > TCP_MAX_OPTIONS_BYTES || f.sackBlockCount > TCP_MAX_SACK_BLOCKS) {
    throw new RangeError(`emitTcpHeader: ${optionsLength} bytes of options (${f.sackBlockCount} SACK blocks) exceed 40`);
  }
  const headerLength = TCP_HEADER_BYTES + optionsLength;
  writeU16(b, off, f.srcPort);
  writeU16(b, off + 2, f.dstPort);
  writeU32(b, off + 4, f.seq);
  writeU32(b, off + 8, f.ack);
  b[off + 12] = (headerLength >>> 2) << 4;
  b[off + 13] = f.flags;
  writeU16(b, off + 14, f.window);
  b[off + 16] = 0;
  b[off + 17] = 0;
  writeU16(b, off + 18, f.urgent);
  let i = off + TCP_HEADER_BYTES;
  if (f.mss >= 0) {
    b[i] = TcpOptionKind.Mss;
    b[i + 1] = 4;
    writeU16(b, i + 2, f.mss);
    i += 4;
  }
  if (f.tsPresent) {
    if (f.sackPermitted) {
      b[i] = TcpOptionKind.SackPermitted;
      b[i + 1] = 2;
    } else {
      b[i] = TcpOptionKind.Nop;
      b[i + 1] = TcpOptionKind.Nop;
    }
    b[i + 2] = TcpOptionKind.Timestamps;
    b[i + 3] = 10;
    writeU32(b, i + 4, f.tsVal);
    writeU32(b, i + 8, f.tsEcr);
    i += 12;
  } else if (f.sackPermitted) {
    b[i] = TcpOptionKind.Nop;
    b[i + 1] = TcpOptionKind.Nop;
    b[i + 2] = TcpOptionKind.SackPermitted;
    b[i + 3] = 2;
    i += 4;
  }
  if (f.windowScale >= 0) {
    b[i] = TcpOptionKind.Nop;
    b[i + 1] = TcpOptionKind.WindowScale;
    b[i + 2] = 3;
    b[i + 3] = f.windowScale;
    i += 4;
  }
  if (f.sackBlockCount > 0) {
    b[i] = TcpOptionKind.Nop;
    b[i + 1] = TcpOptionKind.Nop;
    b[i + 2] = TcpOptionKind.Sack;
    b[i + 3] = 2 + 8 * f.sackBlockCount;
    i += 4;
    for (let k = 0; k < 2 * f.sackBlockCount; k++, i += 4) writeU32(b, i, f.sackBlocks[k]);
  }
  return headerLength;
}

/**
 * Computes and stores the checksum of the `segmentLength`-byte segment at `off` (header + payload contiguous, as
 * written by `emitTcpHeader` and a payload copy). `pseudoSum` = `pseudoHeaderSum(src, dst, IPPROTO_TCP,
 * segmentLength)`. Returns the stored checksum.
 */
export function finishTcpChecksum(b: Uint8Array, off: number, segmentLength: number, pseudoSum: number): number {
  // Zero first so a segment finished twice (rewritten for a retransmission) still sums right.
  b[off + TCP_CHECKSUM_OFFSET] = 0;
  b[off + TCP_CHECKSUM_OFFSET + 1] = 0;
  const checksum = checksumFold(checksumAdd(b, off, segmentLength, pseudoSum));
  writeU16(b, off + TCP_CHECKSUM_OFFSET, checksum);
  return checksum;
}

/**
 * Like `finishTcpChecksum` when the payload was copied in with `copyWithChecksum` seeded with the pseudo-header
 * sum: sums only the `headerLength` header bytes onto `pseudoAndPayloadSum`. Returns the stored checksum.
 */
export function finishTcpChecksumSummed(b: Uint8Array, off: number, headerLength: number, pseudoAndPayloadSum: number): number {
  b[off + TCP_CHECKSUM_OFFSET] = 0;
  b[off + TCP_CHECKSUM_OFFSET + 1] = 0;
  const checksum = checksumFold(checksumAdd(b, off, headerLength, pseudoAndPayloadSum));
  writeU16(b, off + TCP_CHECKSUM_OFFSET, checksum);
  return checksum;
}
