// A TCP_INFO-like snapshot of a connection (the fields Linux's `ss -i` shows that applications ask for).
import type { TcpConnection } from './connection.js';
import { receiveWindow } from './rcv.js';
import { seqDiff } from './seq.js';
import { tcpStateName, type TcpInfo } from './types.js';

export function tcpInfo(conn: TcpConnection): TcpInfo {
  return {
    state: tcpStateName(conn.state),
    congestion: conn.cc.algorithm,
    rttMs: conn.rtt.srtt,
    rttVarMs: conn.rtt.rttvar,
    minRttMs: Number.isFinite(conn.rtt.min) ? conn.rtt.min : 0,
    rtoMs: conn.rtt.rto,
    cwnd: conn.cc.cwnd,
    ssthresh: conn.cc.ssthresh,
    sndMss: conn.smss,
    rcvMss: conn.rcvMss,
    sndWnd: conn.sndWnd,
    rcvWnd: receiveWindow(conn),
    unackedBytes: Math.max(seqDiff(conn.sndMax, conn.sndUna), 0),
    retransmits: conn.retransmits,
    timeouts: conn.timeouts,
    fastRecoveries: conn.fastRecoveries,
    dsackIn: conn.dsackIn,
    spuriousRetransmits: conn.spuriousRetransmits,
    undos: conn.undos,
    rackLosses: conn.rackLosses,
    tlpProbes: conn.tlpProbes,
    segmentsOut: conn.segmentsOut,
    segmentsIn: conn.segmentsIn,
    bytesAcked: conn.bytesAcked,
    bytesReceived: conn.bytesReceived,
    windowScaling: conn.wscaleEnabled,
    timestamps: conn.tsEnabled,
    sack: conn.sackEnabled,
    inRecovery: conn.inRecovery,
  };
}
