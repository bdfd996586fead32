import { DropReason } from './drop-reason.js';
import { readMac, writeMac } from './address.js';
import { readU16, readU32, writeU16, writeU32 } from './bytes.js';
import { ETHERTYPE_IPV4 } from './ethernet.js';
import { DOUBLE_ZERO } from './double-field.js';

// ARP for IPv4 over Ethernet only (RFC 826). Anything else (other hardware or protocol types, RARP) is BadArp.

export const ARP_BYTES = 28;
export const ARP_HTYPE_ETHERNET = 1;
export const ARP_OP_REQUEST = 1;
export const ARP_OP_REPLY = 2;

export interface ArpRepr {
  /** ARP_OP_REQUEST or ARP_OP_REPLY. */
  op: number;
  senderMac: number;
  senderIp: number;
  /** Zero in a request. */
  targetMac: number;
  targetIp: number;
}

export function createArpRepr(): ArpRepr {
  return { op: 0, senderMac: DOUBLE_ZERO, senderIp: DOUBLE_ZERO, targetMac: DOUBLE_ZERO, targetIp: DOUBLE_ZERO };
}

/** Parses the ARP packet in the `len` bytes at `off` (an Ethernet payload; trailing padding is ignored). */
export function parseArp(b: Uint8Array, off: number, len: number, out: ArpRepr): number {
  if (len < ARP_BYTES || off + len > b.length) return DropReason.Truncated;
  if (readU16(b, off) !== ARP_HTYPE_ETHERNET || readU16(b, off + 2) !== ETHERTYPE_IPV4) return DropReason.BadArp;
  if (b[off + 4] !== 6 || b[off + 5] !== 4) return DropReason.BadArp;
  const op = readU16(b, off + 6);
  if (op !== ARP_OP_REQUEST && op !== ARP_OP_REPLY) return DropReason.BadArp;
  out.op = op;
  out.senderMac = readMac(b, off + 8);
  out.senderIp = readU32(b, off + 14);
  out.targetMac = readMac(b, off + 18);
  out.targetIp = readU32(b, off + 24);
  return DropReason.Ok;
}

/** Writes an Ethernet/IPv4 ARP packet at `off`; returns the bytes written (28). */
export function emitArp(b: Uint8Array, off: number, repr: ArpRepr): number {
  writeU16(b, off, ARP_HTYPE_ETHERNET);
  writeU16(b, off + 2, ETHERTYPE_IPV4);
  b[off + 4] = 6;
  b[off + 5] = 4;
  writeU16(b, off + 6, repr.op);
  writeMac(b, off + 8, repr.senderMac);
  writeU32(b, off + 14, repr.senderIp);
  writeMac(b, off + 18, repr.targetMac);
  writeU32(b, off + 24, repr.targetIp);
  return ARP_BYTES;
}
