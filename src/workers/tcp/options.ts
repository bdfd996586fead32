// Option negotiation on the SYN exchange: MSS (RFC 9293 §3.7.1, RFC 6691), window scale (RFC 7323 §2), timestamps
// (RFC 7323 §3) and SACK-permitted (RFC 2018 §2). An option is on only if both SYNs carried it.
import type { TcpRepr } from '../../wire/index.js';
import type { TcpConnection } from './connection.js';
import type { TcpConfig } from './types.js';

/** IPv4 and TCP fixed headers: MSS = MTU − 40. */
export function mssForMtu(mtu: number): number {
  return Math.max(mtu - 40, 88);
}

/** RFC 9293 §3.7.1: without an MSS option, assume 536. */
export const DEFAULT_MSS = 536;

/** The smallest shift that lets a 16-bit field describe `capacity` bytes (RFC 7323 §2.3, at most 14). */
export function chooseWindowScale(capacity: number): number {
  let shift = 0;
  while (shift < 14 && capacity / 2 ** shift > 65_535) shift++;
  return shift;
}

/** What our SYN (or SYN-ACK) offers, before we know the peer's. */
export function offerOptions(conn: TcpConnection, config: TcpConfig, mtu: number, receiveCapacity: number): void {
  conn.rcvMss = mssForMtu(mtu);
  conn.wscaleEnabled = config.windowScaling;
  conn.rcvWscale = config.windowScaling ? chooseWindowScale(receiveCapacity) : 0;
  conn.tsEnabled = config.timestamps;
  conn.sackEnabled = config.sack;
}

/**
 * Applies the peer's SYN options. For a SYN-ACK answering a SYN we received, call it before sending (we then offer
 * only what the peer offered). Sets the effective send MSS: min(peer MSS, our MTU − 40), minus the timestamp
 * option's 12 bytes when they are on (RFC 6691 §2: the MSS excludes options).
 */
export function applyPeerSynOptions(conn: TcpConnection, syn: TcpRepr, mtu: number): void {
  conn.peerMss = syn.mss >= 0 ? syn.mss : DEFAULT_MSS;
  if (conn.wscaleEnabled && syn.windowScale >= 0) {
    conn.sndWscale = Math.min(syn.windowScale, 14); // RFC 7323 §2.3: treat larger shifts as 14
  } else {
    conn.wscaleEnabled = false;
    conn.sndWscale = 0;
    conn.rcvWscale = 0;
  }
  conn.tsEnabled = conn.tsEnabled && syn.tsPresent;
  conn.sackEnabled = conn.sackEnabled && syn.sackPermitted;
  const mss = Math.min(conn.peerMss, mssForMtu(mtu));
  conn.smss = Math.max(mss - (conn.tsEnabled ? 12 : 0), 64);
}
