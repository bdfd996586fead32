// Keepalive (RFC 9293 §3.8.4, RFC 1122 §4.2.3.6): after `idle` ms with nothing received, send a probe
// <SEQ=SND.UNA−1><ACK=RCV.NXT> with no data, which any live peer must acknowledge; after `probes` unanswered probes
// `interval` ms apart, the connection is dead (ETIMEDOUT).
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { abortConnection } from './close.js';
import { sendControl } from './output.js';
import { TCP_ACK } from '../../wire/index.js';
import { TcpState } from './types.js';

export function armKeepalive(engine: TcpEngine, conn: TcpConnection): void {
  if (!conn.keepaliveEnabled || (conn.state !== TcpState.Established && conn.state !== TcpState.CloseWait)) {
    conn.keepaliveAt = -1;
    return;
  }
  conn.keepaliveAt = conn.lastReceiveAt + conn.keepaliveIdleMs;
  engine.schedule(conn);
}

export function onKeepaliveTimer(engine: TcpEngine, conn: TcpConnection, now: number): void {
  conn.keepaliveAt = -1;
  if (!conn.keepaliveEnabled || (conn.state !== TcpState.Established && conn.state !== TcpState.CloseWait)) return;
  const silentFor = now - conn.lastReceiveAt;
  if (conn.keepaliveProbesSent === 0 && silentFor < conn.keepaliveIdleMs) {
    conn.keepaliveAt = conn.lastReceiveAt + conn.keepaliveIdleMs;
    engine.schedule(conn);
    return;
  }
  if (conn.keepaliveProbesSent >= conn.keepaliveProbesMax) {
    abortConnection(engine, conn, now, 'ETIMEDOUT', false, true);
    return;
  }
  conn.keepaliveProbesSent++;
  engine.stats.keepaliveProbes++;
  sendControl(engine, conn, now, TCP_ACK, (conn.sndUna - 1) >>> 0);
  conn.keepaliveAt = now + conn.keepaliveIntervalMs;
  engine.schedule(conn);
}
