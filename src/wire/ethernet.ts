import { DropReason } from './drop-reason.js';
import { readMac, writeMac } from './address.js';
import { readU16, writeU16 } from './bytes.js';
import { DOUBLE_ZERO } from './double-field.js';

// Ethernet II framing (IEEE 802.3 with an EtherType). The FCS is not part of the frames we see (AF_PACKET, TAP and
// the memory wire all strip it).

export const ETHERNET_HEADER_BYTES = 14;
export const ETHERTYPE_IPV4 = 0x0800;
export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_VLAN = 0x8100;
export const ETHERTYPE_IPV6 = 0x86dd;
export const BROADCAST_MAC = 0xffffffffffff;
/** Smallest frame on the wire without FCS; shorter frames are padded by the sender (IP length says what is real). */
export const ETHERNET_MIN_FRAME_BYTES = 60;

export interface EthernetRepr {
  dst: number;
  src: number;
  etherType: number;
  /** Absolute offset of the payload in the parsed buffer. */
  payloadOffset: number;
  /** Bytes after the header, padding included. */
  payloadLength: number;
}

export function createEthernetRepr(): EthernetRepr {
  return { dst: DOUBLE_ZERO, src: DOUBLE_ZERO, etherType: 0, payloadOffset: 0, payloadLength: 0 };
}

/**
 * Parses the Ethernet header of the `len`-byte frame at `off`. Any EtherType ≥ 0x0600 parses: the caller dispatches
 * on `etherType` and drops what it does not handle with `DropReason.UnknownEtherType`. An 802.3 length field
 * (< 0x0600, LLC frames) is `UnknownEtherType` here already.
 */
export function parseEthernet(b: Uint8Array, off: number, len: number, out: EthernetRepr): number {
  if (len < ETHERNET_HEADER_BYTES || off + len > b.length) return DropReason.Truncated;
  const etherType = readU16(b, off + 12);
  if (etherType < 0x0600) return DropReason.UnknownEtherType;
  out.dst = readMac(b, off);
  out.src = readMac(b, off + 6);
  out.etherType = etherType;
  out.payloadOffset = off + ETHERNET_HEADER_BYTES;
  out.payloadLength = len - ETHERNET_HEADER_BYTES;
  return DropReason.Ok;
}

/** Writes an Ethernet header at `off`; returns the bytes written (14). */
export function emitEthernet(b: Uint8Array, off: number, dst: number, src: number, etherType: number): number {
  writeMac(b, off, dst);
  writeMac(b, off + 6, src);
  writeU16(b, off + 12, etherType);
  return ETHERNET_HEADER_BYTES;
}
