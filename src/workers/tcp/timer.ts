// Timers. Each connection keeps absolute due times per mechanism (retransmission, persist, delayed ACK, RACK's
// reordering timer, the loss probe, keepalive, TIME-WAIT); the engine keeps one min-heap of (due, connection)
// entries so `pollAt()` is O(1) and `onTimers(now)` touches only connections that are due. Entries are never removed: an entry whose due time no
// longer matches the connection's `scheduledAt` is stale and skipped (lazy deletion).
import type { TcpConnection } from './connection.js';
import { emptyDoubleArray } from '../../wire/index.js';

export class TimerHeap {
  private due: number[] = emptyDoubleArray();
  private conns: TcpConnection[] = [];

  get size(): number {
    return this.due.length;
  }

  /** The earliest entry's due time (maybe stale: an early wake-up is harmless), or Infinity. */
  peek(): number {
    return this.due.length === 0 ? Infinity : this.due[0];
  }

  push(at: number, conn: TcpConnection): void {
    const due = this.due;
    const conns = this.conns;
    let i = due.length;
    due.push(at);
    conns.push(conn);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (due[parent] <= at) break;
      due[i] = due[parent];
      conns[i] = conns[parent];
      i = parent;
    }
    due[i] = at;
    conns[i] = conn;
  }

  /** Removes and returns the earliest connection if its entry is due by `now`, else null. */
  popDue(now: number): { at: number; conn: TcpConnection } | null {
    if (this.due.length === 0 || this.due[0] > now) return null;
    const at = this.due[0];
    const conn = this.conns[0];
    const lastAt = this.due.pop()!;
    const lastConn = this.conns.pop()!;
    const n = this.due.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        const c = r < n && this.due[r] < this.due[l] ? r : l;
        if (this.due[c] >= lastAt) break;
        this.due[i] = this.due[c];
        this.conns[i] = this.conns[c];
        i = c;
      }
      this.due[i] = lastAt;
      this.conns[i] = lastConn;
    }
    return { at, conn };
  }
}

/** The earliest armed timer of a connection, or Infinity. */
export function nextTimerOf(conn: TcpConnection): number {
  let t = Infinity;
  if (conn.rtoAt >= 0 && conn.rtoAt < t) t = conn.rtoAt;
  if (conn.persistAt >= 0 && conn.persistAt < t) t = conn.persistAt;
  if (conn.delayedAckAt >= 0 && conn.delayedAckAt < t) t = conn.delayedAckAt;
  if (conn.rackAt >= 0 && conn.rackAt < t) t = conn.rackAt;
  if (conn.tlpAt >= 0 && conn.tlpAt < t) t = conn.tlpAt;
  if (conn.keepaliveAt >= 0 && conn.keepaliveAt < t) t = conn.keepaliveAt;
  if (conn.timeWaitAt >= 0 && conn.timeWaitAt < t) t = conn.timeWaitAt;
  return t;
}
