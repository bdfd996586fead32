import type { FrameRing } from '../shared-ring/index.js';

/**
 * Records between an application thread and the protocol stage, carried by two frame rings per application thread
 * (commands app → proto, events proto → app). The record's `port` field holds the operation; its bytes start with a
 * fixed 16-byte header, then the data (a datagram's payload):
 *
 *   0 u32 id       socket id (chosen by the app, unique within its channel) or ping id
 *   4 u32 address  IPv4 address (destination of a send, source of a received datagram, ...)
 *   8 u16 port     UDP port
 *  10 u16 extra    local port, ICMP sequence number, ...
 *  12 i32 value    error code (AppError), TTL, payload size, ...
 *  16 ...          data
 *
 * This module is imported by both sides (the main thread imports it from workers for exactly this format).
 */
export const APP_RECORD_HEADER_BYTES = 16;

export const AppCommand = {
  UdpBind: 1,
  UdpSend: 2,
  UdpClose: 3,
  UdpConnect: 4,
  Ping: 5,
  /** Socket buffers for TCP live in slots the app registered through the control plane; `id` is the slot. */
  TcpConnect: 10, // id slot, address/port remote, extra local port (0 = any), value TcpSocketFlags, data [u32 SO_RCVBUF]
  TcpListen: 11, // id listener, address local (0 = any), port, value backlog
  TcpUnlisten: 12, // id listener
  TcpProvideSlot: 13, // id slot: the protocol stage may use it for a connection it accepts
  TcpWritten: 14, // id slot: the app wrote into the send ring
  TcpRead: 15, // id slot: the app read from the receive ring (the window may open)
  TcpShutdown: 16, // id slot: FIN after what was written (half-close)
  TcpAbort: 17, // id slot: RST (resetAndDestroy())
  TcpClose: 20, // id slot: close both ways — FIN, or RST if received bytes were left unread (destroy())
  TcpSetOption: 18, // id slot, extra TcpOption, value
  TcpInfo: 19, // id slot: answer with a TcpInfo event (JSON)
  // 20: TcpClose, above
} as const;

export const TcpSocketFlags = {
  NoDelay: 1,
  KeepAlive: 2,
  Cubic: 4,
  /** Data or a FIN waits for the connection to be established: the handshake's ACK may go with it. */
  WritePending: 8,
} as const;

export const TcpOption = {
  NoDelay: 1,
  /** value: idle time in ms, 0 = off */
  KeepAlive: 2,
  /** value: SO_RCVBUF in bytes, the most the window offers (auto-tuning off); 0 = auto-tuning up to the ring */
  ReceiveBuffer: 3,
} as const;

export const AppEvent = {
  UdpBound: 1,
  UdpDatagram: 2,
  UdpError: 3,
  PingReply: 4,
  PingError: 5,
  TcpConnected: 10, // id slot, address/port local
  TcpIncoming: 11, // id listener, address/port remote, extra local port, value slot, data u32 local address
  TcpReadable: 12, // id slot
  TcpWritable: 13, // id slot
  TcpRemoteEof: 14, // id slot
  TcpError: 15, // id slot, value AppError
  TcpClosed: 16, // id slot: the stage no longer touches the slot's rings
  TcpListening: 17, // id listener, value AppError
  TcpInfo: 18, // id slot, data JSON
} as const;

/** Error codes on the rings; the app turns them back into Node's `code` strings. */
export const AppError = {
  None: 0,
  EADDRINUSE: 1,
  ECONNREFUSED: 2,
  EHOSTUNREACH: 3,
  ENETUNREACH: 4,
  EMSGSIZE: 5,
  ENOBUFS: 6,
  EADDRNOTAVAIL: 7,
  EINVAL: 8,
  ETIMEDOUT: 9,
  ECONNRESET: 10,
  ECONNABORTED: 11,
  EPIPE: 12,
  ENOTCONN: 13,
} as const;

const errorNames: string[] = [];
for (const [name, code] of Object.entries(AppError)) errorNames[code] = name;

export function appErrorName(code: number): string {
  return errorNames[code] ?? `E${code}`;
}

/** A record being read: the header fields and where its data lies in `ring.bytes`. Reused, never allocated per record. */
export interface AppRecord {
  op: number;
  id: number;
  address: number;
  port: number;
  extra: number;
  value: number;
  dataOffset: number;
  dataLength: number;
}

export function createAppRecord(): AppRecord {
  return { op: 0, id: 0, address: 0, port: 0, extra: 0, value: 0, dataOffset: 0, dataLength: 0 };
}

/** Reads the peeked record of `ring` into `out`. Returns false if nothing is published. */
export function readAppRecord(ring: FrameRing, out: AppRecord): boolean {
  const off = ring.peek();
  if (off < 0) return false;
  const b = ring.bytes;
  out.op = ring.port;
  out.id = (b[off] << 24 | b[off + 1] << 16 | b[off + 2] << 8 | b[off + 3]) >>> 0;
  out.address = (b[off + 4] << 24 | b[off + 5] << 16 | b[off + 6] << 8 | b[off + 7]) >>> 0;
  out.port = b[off + 8] << 8 | b[off + 9];
  out.extra = b[off + 10] << 8 | b[off + 11];
  out.value = b[off + 12] << 24 | b[off + 13] << 16 | b[off + 14] << 8 | b[off + 15];
  out.dataOffset = off + APP_RECORD_HEADER_BYTES;
  out.dataLength = ring.frameLength - APP_RECORD_HEADER_BYTES;
  return true;
}

/**
 * Reserves a record with room for `dataLength` bytes of data and writes its header. Returns the absolute offset
 * where the data goes (write it, then `ring.commit(APP_RECORD_HEADER_BYTES + dataLength, 0, op)`), or -1 if full.
 */
export function beginAppRecord(
  ring: FrameRing, dataLength: number, id: number, address: number, port: number, extra: number, value: number,
): number {
  const off = ring.reserve(APP_RECORD_HEADER_BYTES + dataLength);
  if (off < 0) return -1;
  const b = ring.bytes;
  b[off] = id >>> 24; b[off + 1] = id >>> 16; b[off + 2] = id >>> 8; b[off + 3] = id;
  b[off + 4] = address >>> 24; b[off + 5] = address >>> 16; b[off + 6] = address >>> 8; b[off + 7] = address;
  b[off + 8] = port >>> 8; b[off + 9] = port;
  b[off + 10] = extra >>> 8; b[off + 11] = extra;
  b[off + 12] = value >>> 24; b[off + 13] = value >>> 16; b[off + 14] = value >>> 8; b[off + 15] = value;
  return off + APP_RECORD_HEADER_BYTES;
}

export function commitAppRecord(ring: FrameRing, op: number, dataLength: number): void {
  ring.commit(APP_RECORD_HEADER_BYTES + dataLength, 0, op);
}

/** Writes a record without data in one call. Returns false if the ring is full. */
export function pushAppRecord(
  ring: FrameRing, op: number, id: number, address: number, port: number, extra: number, value: number,
): boolean {
  if (beginAppRecord(ring, 0, id, address, port, extra, value) < 0) return false;
  commitAppRecord(ring, op, 0);
  return true;
}

/** Writes a record whose data is one big-endian u32 (an option that must arrive with the command). */
export function pushAppRecordU32(
  ring: FrameRing, op: number, id: number, address: number, port: number, extra: number, value: number, data: number,
): boolean {
  const at = beginAppRecord(ring, 4, id, address, port, extra, value);
  if (at < 0) return false;
  const b = ring.bytes;
  b[at] = data >>> 24; b[at + 1] = data >>> 16; b[at + 2] = data >>> 8; b[at + 3] = data;
  commitAppRecord(ring, op, 4);
  return true;
}

/** The big-endian u32 at the start of a record's data, or `fallback` when it carries none. */
export function appRecordU32(bytes: Uint8Array, rec: AppRecord, fallback: number): number {
  if (rec.dataLength < 4) return fallback;
  const at = rec.dataOffset;
  return (bytes[at] << 24 | bytes[at + 1] << 16 | bytes[at + 2] << 8 | bytes[at + 3]) >>> 0;
}
