// Closing (RFC 9293 §3.10.4 CLOSE, §3.10.5 ABORT) and releasing a connection.
import { TCP_ACK, TCP_RST } from '../../wire/index.js';
import type { TcpConnection } from './connection.js';
import type { TcpEngine } from './engine.js';
import { sendControl } from './output.js';
import { TcpState, type TcpErrorCode } from './types.js';

/** Half-close: a FIN follows the bytes already queued (Node's `end()`). */
export function shutdownSend(engine: TcpEngine, conn: TcpConnection, now: number): void {
  if (conn.finRequested) return;
  switch (conn.state) {
    case TcpState.SynSent:
      // Nothing was synchronized: just delete the TCB.
      releaseConnection(engine, conn);
      return;
    case TcpState.SynReceived:
    case TcpState.Established:
      conn.state = TcpState.FinWait1;
      break;
    case TcpState.CloseWait:
      conn.state = TcpState.LastAck;
      break;
    default:
      return; // already closing
  }
  conn.finRequested = true;
  conn.finSeq = conn.sendDataEnd;
  engine.flushAfterCommand(conn, now);
}

/**
 * Full close: the application neither sends nor reads any more. Unread received data means the peer's bytes
 * would be silently lost, so reset instead (RFC 2525 §2.17, as Linux does).
 */
export function closeConnection(engine: TcpEngine, conn: TcpConnection, now: number): void {
  conn.appClosed = true;
  // We produce into the receive ring: what the app left unread is what is not free (readableBytes() belongs to
  // the consumer's side of the ring).
  const rb = conn.receiveBuffer;
  if (rb !== null && rb.capacity - rb.writableBytes() > 0) {
    abortConnection(engine, conn, now, null, true, false);
    return;
  }
  shutdownSend(engine, conn, now);
}

/**
 * Ends the connection now: optionally sends RST (<SEQ=SND.NXT><CTL=RST>, RFC 9293 §3.10.5), reports `code` to the
 * application if given, and releases it.
 */
export function abortConnection(
  engine: TcpEngine,
  conn: TcpConnection,
  now: number,
  code: TcpErrorCode | null,
  sendReset: boolean,
  reportError: boolean,
): void {
  if (conn.released) return;
  if (sendReset && conn.state !== TcpState.SynSent && conn.state !== TcpState.Closed && conn.state !== TcpState.TimeWait) {
    sendControl(engine, conn, now, conn.state === TcpState.SynReceived ? TCP_RST : TCP_RST | TCP_ACK, conn.sndNxt);
  }
  if (code !== null && reportError && !conn.closedReported) engine.events.onError(conn, code);
  releaseConnection(engine, conn);
}

/** Removes the connection from the engine and tells the application, once. */
export function releaseConnection(engine: TcpEngine, conn: TcpConnection): void {
  if (conn.listener !== null && !conn.accepted) conn.listener.forget(conn);
  conn.state = TcpState.Closed;
  engine.remove(conn);
  reportClosed(engine, conn);
}

export function reportClosed(engine: TcpEngine, conn: TcpConnection): void {
  if (conn.closedReported) return;
  conn.closedReported = true;
  // An embryonic connection the application never saw has no one to tell.
  if (conn.listener !== null && !conn.accepted && conn.state !== TcpState.TimeWait) return;
  engine.events.onClosed(conn);
}
