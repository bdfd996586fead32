// TIME-WAIT (RFC 9293 §3.10.7.4): the side that closes first keeps the 4-tuple for 2·MSL so that old duplicates
// die and a lost final ACK can be repeated. RFC 1337: RSTs are ignored here. RFC 6191: a new SYN may reopen the
// tuple early when its timestamp (or, without timestamps, its sequence number) proves it is newer.
import { TCP_FIN, TCP_RST, TCP_SYN, type TcpRepr } from '../../wire/index.js';
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { sendAck } from './output.js';
import { reportClosed } from './close.js';
import { seqAdd, seqGt } from './seq.js';
import { TcpState } from './types.js';

export function enterTimeWait(engine: TcpEngine, conn: TcpConnection, now: number): void {
  conn.state = TcpState.TimeWait;
  conn.timeWaitSince = now;
  conn.timeWaitAt = now + 2 * engine.config.mslMs;
  conn.rtoAt = -1;
  conn.persistAt = -1;
  conn.keepaliveAt = -1;
  conn.delayedAckAt = -1;
  reportClosed(engine, conn);
  // The buffers belong to the application, which has been told the connection is over.
  conn.sendBuffer = null;
  conn.receiveBuffer = null;
  conn.rcvWindowClamp = 0;
  engine.schedule(conn);
}

/** The outcome of a segment that reached a TIME-WAIT connection. */
export type TimeWaitVerdict = 'handled' | 'reopen';

export function timeWaitSegment(engine: TcpEngine, conn: TcpConnection, now: number, tcp: TcpRepr, segLen: number, hasListener: boolean): TimeWaitVerdict {
  if (tcp.flags & TCP_RST) return 'handled'; // RFC 1337 §3 (TIME-WAIT assassination)
  if (tcp.flags & TCP_SYN) {
    // RFC 6191 §2: accept a new incarnation if its SYN is provably newer than anything of the old one.
    const newer = conn.tsEnabled && tcp.tsPresent ? seqGt(tcp.tsVal, conn.tsRecent) : seqGt(tcp.seq, conn.rcvNxt);
    if (hasListener && newer) return 'reopen';
    if (engine.allowChallengeAck(now)) sendAck(engine, conn, now); // RFC 5961 §4
    return 'handled';
  }
  if (tcp.flags & TCP_FIN && seqAdd(tcp.seq, segLen + 1) === conn.rcvNxt) {
    // The peer did not get our ACK of its FIN: repeat it and restart the 2·MSL timeout.
    sendAck(engine, conn, now);
    conn.timeWaitAt = now + 2 * engine.config.mslMs;
    engine.schedule(conn);
    return 'handled';
  }
  if (segLen > 0) sendAck(engine, conn, now);
  return 'handled';
}

/**
 * May an outgoing connection take over this TIME-WAIT 4-tuple? Only if it used timestamps and has waited
 * `timeWaitReuseMs`: our clock-driven ISN (RFC 6528) and monotonic per-tuple timestamps then let the peer's PAWS
 * reject any old duplicate (the reasoning of RFC 6191, applied from the active side as Linux's tcp_tw_reuse does).
 */
export function timeWaitReusable(engine: TcpEngine, conn: TcpConnection, now: number): boolean {
  return conn.state === TcpState.TimeWait && conn.tsEnabled && now - conn.timeWaitSince >= engine.config.timeWaitReuseMs;
}
