// D-SACK (RFC 2883). On receive: text we already hold — below RCV.NXT, or over out-of-order data already queued —
// is reported in the first SACK block of the next ACK, which goes at once (§4). On send: telling such a block from
// an ordinary SACK block (§4 "interpretation"), so RFC 3708 and RFC 8985 §6.2 step 4 can use it.
import type { TcpConnection } from './connection.js';
import { seqGe, seqLe, seqLt } from './seq.js';

/**
 * [start, end) arrived again. RFC 2883 §4 rule 1: a D-SACK block reports the duplicate of the most recent segment,
 * so a newer one replaces a pending one (one that touches it is merged: still one contiguous duplicate).
 */
export function noteDuplicate(conn: TcpConnection, start: number, end: number): void {
  if (!conn.sackEnabled || !seqLt(start, end)) return;
  if (conn.dsackPending && seqLe(start, conn.dsackEnd) && seqGe(end, conn.dsackStart)) {
    if (seqLt(start, conn.dsackStart)) conn.dsackStart = start;
    if (seqLt(conn.dsackEnd, end)) conn.dsackEnd = end;
  } else {
    conn.dsackStart = start >>> 0;
    conn.dsackEnd = end >>> 0;
  }
  conn.dsackPending = true;
  // RFC 5681 §4.2 / RFC 2883 §4: a duplicate is acknowledged at once, so the sender learns of it promptly.
  conn.ackNow = true;
}

/** How many SACK blocks an ACK of `conn` carries now: 3 fit beside the timestamps option, 4 without (RFC 2018 §3). */
export function sackBlocksToSend(conn: TcpConnection): number {
  if (!conn.sackEnabled) return 0;
  const wanted = conn.outOfOrder.count + (conn.dsackPending ? 1 : 0);
  return Math.min(wanted, conn.tsEnabled ? 3 : 4);
}

/**
 * Fills an ACK's SACK blocks: the D-SACK block first, then the queued range that holds it (rule 4), then the most
 * recent others (RFC 2018 §4, rule 5). Returns the block count.
 */
export function fillSackOption(conn: TcpConnection, out: Uint32Array): number {
  const max = conn.tsEnabled ? 3 : 4;
  if (!conn.dsackPending) return conn.outOfOrder.fillSackBlocks(out, max);
  out[0] = conn.dsackStart;
  out[1] = conn.dsackEnd;
  return 1 + conn.outOfOrder.fillSackBlocks(out, max - 1, 1, conn.dsackStart);
}

/**
 * Whether the first SACK block of an ACK is a D-SACK block (RFC 2883 §4): it lies at or below the cumulative ACK,
 * or inside the second block.
 */
export function firstBlockIsDsack(ack: number, blocks: Uint32Array, count: number): boolean {
  if (count === 0) return false;
  const left = blocks[0];
  const right = blocks[1];
  if (!seqLt(left, right)) return false;
  if (seqLe(right, ack)) return true;
  return count > 1 && seqGe(left, blocks[2]) && seqLe(right, blocks[3]);
}
