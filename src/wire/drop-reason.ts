/**
 * Why a frame is dropped. Every parse in src/wire returns `DropReason.Ok` (0) or one of these codes instead of
 * throwing, so a stage can count drops per reason without try/catch on the hot path.
 *
 * Codes are stable small integers (they index counter arrays): append new reasons at the end, never renumber.
 */
export const DropReason = {
  Ok: 0,
  /** The buffer ends before the header (or the length the header announces) does. */
  Truncated: 1,
  /** IPv4 version field is not 4. */
  BadVersion: 2,
  /** IPv4 IHL < 5, or TCP data offset < 5. */
  BadHeaderLength: 3,
  /** IPv4 total length is smaller than its own header. */
  BadTotalLength: 4,
  /** IPv4 header, ICMP, UDP or TCP checksum does not verify. */
  BadChecksum: 5,
  /** A TCP option with a length below 2, running past the header, or of the wrong size for its kind. */
  BadOption: 6,
  /** An 802.3 length field (< 0x0600) where an EtherType should be. Callers also use it for EtherTypes they do not handle. */
  UnknownEtherType: 7,
  /** An IP protocol number the stack does not handle (set by the caller dispatching on `Ipv4Repr.protocol`). */
  UnknownProtocol: 8,
  /** ARP that is not Ethernet/IPv4 (htype 1, ptype 0x0800, hlen 6, plen 4) or whose operation is not request/reply. */
  BadArp: 9,
  /** An IPv4 fragment whose offset + length runs past 65535 bytes (RFC 791 limit; "ping of death"). */
  BadFragment: 10,
  /** UDP length field below 8. */
  BadUdpLength: 11,
  /** An ICMP type this codec does not decode (only echo, destination unreachable, time exceeded, parameter problem). */
  UnknownIcmpType: 12,
  /** An ICMP error whose quoted datagram is not an IPv4 header followed by at least 8 bytes. */
  BadIcmpQuote: 13,
} as const;

export type DropReason = (typeof DropReason)[keyof typeof DropReason];

const names: string[] = [];
for (const [name, code] of Object.entries(DropReason)) names[code] = name;

/** The name of a drop reason code (`'BadChecksum'`), or `'Unknown(<code>)'` for a code not defined here. */
export function dropReasonName(code: number): string {
  return names[code] ?? `Unknown(${code})`;
}

/** How many drop reason codes exist: size a per-reason counter array with it. */
export const DROP_REASON_COUNT = names.length;
