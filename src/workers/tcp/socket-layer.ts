import { ByteRing } from '../../shared-ring/index.js';
import type { TcpRepr } from '../../wire/index.js';
import { AppCommand, AppError, AppEvent, TcpOption, TcpSocketFlags, appRecordU32, type AppRecord } from '../app-protocol.js';
import { TcpEngine, type TcpConnection, type TcpListener } from './index.js';
import type { TcpBufferProvider, TcpConfig, TcpErrorCode, TcpEventSink, TcpOutput, TcpSegmentOut } from './types.js';

/** What the socket layer needs of an application channel (the protocol stage's AppChannel is one). */
export interface ChannelRef {
  readonly id: number;
}

/** What the socket layer needs of the protocol stage: IP output, routing facts, and events to the app. */
export interface SocketLayerHost {
  /** Puts a segment on the wire (IP, Ethernet, checksum); false if the output is full now. */
  sendTcpSegment(segment: TcpSegmentOut): boolean;
  /** Address mod 8 at which `sendTcpSegment` places the text of a segment with this TCP header length. */
  tcpTextPhase?(headerLength: number): number;
  /** TcpOutput.superSegmentLimit: the longest super-segment the route to `dst` takes (its device's TSO), or 0. */
  tcpSuperSegmentLimit?(dst: number): number;
  /** Source address and MTU of the route to `dst`, or null without a route. */
  routeTo(dst: number): { source: number; mtu: number } | null;
  emit(channel: ChannelRef, op: number, id: number, address: number, port: number, extra: number, value: number, data?: Uint8Array): void;
}

interface SlotTable {
  readonly send: (ByteRing | undefined)[];
  readonly receive: (ByteRing | undefined)[];
  /** The connection in each slot, from connect or accept until it is closed. */
  readonly connections: (TcpConnection | undefined)[];
  /** Slots the app lent us for connections we accept. */
  readonly reserve: number[];
  /** Receive-ring capacity of the slots registered last (an app's slots share one size); 0 before any. */
  receiveCapacity: number;
}

/** The channel and slot a connection's buffers belong to. */
interface ConnectionOwner {
  readonly channel: ChannelRef;
  readonly slot: number;
}

interface ListenerOwner {
  readonly channel: ChannelRef;
  readonly id: number;
}

const ERROR_CODES: Record<TcpErrorCode, number> = {
  ECONNREFUSED: AppError.ECONNREFUSED, ECONNRESET: AppError.ECONNRESET, ETIMEDOUT: AppError.ETIMEDOUT,
  EHOSTUNREACH: AppError.EHOSTUNREACH, ENETUNREACH: AppError.ENETUNREACH, ECONNABORTED: AppError.ECONNABORTED, EPIPE: AppError.EPIPE,
};

const textEncoder = new TextEncoder();
const LISTEN_PORT_FIRST = 32768;
const LISTEN_PORT_LAST = 60999;

/**
 * Joins the TCP engine to the application channels: socket buffers are byte rings in slots the app registered
 * (so connecting costs no control-plane round trip), commands become engine calls, engine events become event
 * records. Readable and writable notices are coalesced to one per connection per poll.
 */
export class TcpSocketLayer implements TcpOutput, TcpEventSink {
  readonly engine: TcpEngine;
  private readonly slots = new Map<number, SlotTable>();
  private readonly listeners = new Map<string, TcpListener>();
  private readonly readable = new Set<TcpConnection>();
  private readonly writable = new Set<TcpConnection>();
  private blocked = false;
  now = 0;

  constructor(private readonly host: SocketLayerHost, config: Partial<TcpConfig> = {}) {
    this.engine = new TcpEngine({ output: this, events: this, config, routeMtu: (dst) => this.host.routeTo(dst)?.mtu ?? null });
  }

  // ───────── slots (control plane) ─────────

  attachSlots(channel: ChannelRef, firstSlot: number, buffers: readonly (readonly [SharedArrayBuffer, SharedArrayBuffer])[]): void {
    let table = this.slots.get(channel.id);
    if (!table) this.slots.set(channel.id, (table = { send: [], receive: [], connections: [], reserve: [], receiveCapacity: 0 }));
    buffers.forEach(([send, receive], i) => {
      const s = ByteRing.attach(send);
      const r = ByteRing.attach(receive);
      table.send[firstSlot + i] = s;
      table.receive[firstSlot + i] = r;
      table.receiveCapacity = r.capacity;
    });
  }

  detachChannel(channel: ChannelRef): void {
    const table = this.slots.get(channel.id);
    if (table) {
      for (let slot = 0; slot < table.connections.length; slot++) {
        const conn = table.connections[slot];
        if (conn === undefined) continue;
        table.connections[slot] = undefined;
        this.engine.abort(this.now, conn);
      }
    }
    for (const [key, listener] of this.listeners) {
      if ((listener.userData as ListenerOwner).channel === channel) {
        this.engine.closeListener(this.now, listener);
        this.listeners.delete(key);
      }
    }
    this.slots.delete(channel.id);
  }

  // ───────── the loop ─────────

  input(now: number, src: number, dst: number, tcp: TcpRepr, b: Uint8Array): void {
    this.now = now;
    this.engine.input(now, src, dst, tcp, b, tcp.payloadOffset, tcp.payloadLength);
  }

  /** Brackets one receive batch: output owed by its segments goes once, at the end (TcpEngine.beginInputBatch). */
  beginInputBatch(): void {
    this.engine.beginInputBatch();
  }

  endInputBatch(now: number): void {
    this.engine.endInputBatch(now);
  }

  /** Brackets one poll's app commands: a write and end() of one tick leave as one segment (TcpEngine.beginCommandBatch). */
  beginCommandBatch(): void {
    this.engine.beginCommandBatch();
  }

  endCommandBatch(now: number): void {
    this.engine.endCommandBatch(now);
  }

  pollAt(): number {
    return this.blocked ? 0 : this.engine.pollAt();
  }

  onTimers(now: number): void {
    this.now = now;
    if (this.blocked) {
      this.blocked = false;
      this.engine.flush(now);
    }
    if (this.engine.pollAt() <= now) this.engine.onTimers(now);
  }

  /** Sends the coalesced readable/writable notices. Called once per poll, before events are published. */
  flushNotices(): void {
    // clear() allocates a new table even for an empty Set, and most polls have no notices.
    if (this.readable.size > 0) {
      for (const conn of this.readable) this.notify(conn, AppEvent.TcpReadable);
      this.readable.clear();
    }
    if (this.writable.size > 0) {
      for (const conn of this.writable) this.notify(conn, AppEvent.TcpWritable);
      this.writable.clear();
    }
  }

  private notify(conn: TcpConnection, op: number, value = 0): void {
    const owner = conn.userData as ConnectionOwner | null;
    if (owner) this.host.emit(owner.channel, op, owner.slot, 0, 0, 0, value);
  }

  // ───────── commands ─────────

  /** One TCP command from an app channel; `bytes` is the channel ring's memory, where the record's data lies. */
  command(channel: ChannelRef, rec: AppRecord, now: number, bytes: Uint8Array): void {
    this.now = now;
    const slot = rec.id;
    switch (rec.op) {
      case AppCommand.TcpConnect:
        return this.connect(channel, slot, rec.address, rec.port, rec.extra, rec.value, appRecordU32(bytes, rec, 0));
      case AppCommand.TcpListen:
        return this.listen(channel, rec.id, rec.address, rec.port, rec.value);
      case AppCommand.TcpUnlisten: {
        const key = `${channel.id}/${rec.id}`;
        const listener = this.listeners.get(key);
        if (listener) {
          this.listeners.delete(key);
          this.engine.closeListener(now, listener);
        }
        return;
      }
      case AppCommand.TcpProvideSlot:
        this.slots.get(channel.id)?.reserve.push(slot);
        return;
      case AppCommand.TcpInfo: {
        const conn = this.slots.get(channel.id)?.connections[slot];
        const info = conn ? textEncoder.encode(JSON.stringify(this.engine.info(conn))) : new Uint8Array(0);
        this.host.emit(channel, AppEvent.TcpInfo, slot, 0, 0, 0, conn ? 0 : AppError.ENOTCONN, info);
        return;
      }
    }
    const conn = this.slots.get(channel.id)?.connections[slot];
    if (!conn) return; // already closed: the app learns from the TcpClosed event it has or will have
    switch (rec.op) {
      case AppCommand.TcpWritten:
        return this.engine.onSendBufferWritten(now, conn);
      case AppCommand.TcpRead:
        return this.engine.onReceiveBufferRead(now, conn);
      case AppCommand.TcpShutdown:
        return this.engine.shutdown(now, conn);
      case AppCommand.TcpAbort:
        return this.engine.abort(now, conn);
      case AppCommand.TcpClose:
        return this.engine.close(now, conn);
      case AppCommand.TcpSetOption:
        if (rec.extra === TcpOption.NoDelay) this.engine.setNoDelay(now, conn, rec.value !== 0);
        else if (rec.extra === TcpOption.KeepAlive) this.engine.setKeepAlive(conn, rec.value > 0, rec.value > 0 ? rec.value : undefined);
        else if (rec.extra === TcpOption.ReceiveBuffer) this.engine.setReceiveBuffer(now, conn, rec.value);
        return;
    }
  }

  private connect(
    channel: ChannelRef, slot: number, remote: number, remotePort: number, localPort: number, flags: number, receiveBufferLimit: number,
  ): void {
    const table = this.slots.get(channel.id);
    const send = table?.send[slot], receive = table?.receive[slot];
    if (!send || !receive) {
      this.host.emit(channel, AppEvent.TcpError, slot, 0, 0, 0, AppError.EINVAL);
      this.host.emit(channel, AppEvent.TcpClosed, slot, 0, 0, 0, 0);
      return;
    }
    const route = this.host.routeTo(remote);
    if (!route) {
      this.host.emit(channel, AppEvent.TcpError, slot, 0, 0, 0, AppError.ENETUNREACH);
      this.host.emit(channel, AppEvent.TcpClosed, slot, 0, 0, 0, 0);
      return;
    }
    let conn: TcpConnection;
    try {
      conn = this.engine.connect(this.now, {
        localAddr: route.source, remoteAddr: remote, remotePort, localPort, sendBuffer: send, receiveBuffer: receive,
        noDelay: (flags & TcpSocketFlags.NoDelay) !== 0, keepalive: (flags & TcpSocketFlags.KeepAlive) !== 0,
        congestion: (flags & TcpSocketFlags.Cubic) !== 0 ? 'cubic' : 'newreno', mtu: route.mtu, receiveBufferLimit,
        writePending: (flags & TcpSocketFlags.WritePending) !== 0,
      });
    } catch (err) {
      const code = String((err as Error).message).startsWith('EADDRINUSE') ? AppError.EADDRINUSE : AppError.EADDRNOTAVAIL;
      this.host.emit(channel, AppEvent.TcpError, slot, 0, 0, 0, code);
      this.host.emit(channel, AppEvent.TcpClosed, slot, 0, 0, 0, 0);
      return;
    }
    conn.userData = { channel, slot } satisfies ConnectionOwner;
    table!.connections[slot] = conn;
  }

  private listen(channel: ChannelRef, id: number, localAddr: number, port: number, backlog: number): void {
    const layer = this;
    const provider: TcpBufferProvider = {
      // The SYN's window scale is chosen from this (RFC 7323 §2.2: once, for the connection's life): with no slot
      // lent yet, the size of the app's registered slots, not 64 KiB, or a 256 KiB ring could never be offered whole.
      get receiveCapacity() {
        const table = layer.slots.get(channel.id);
        const slot = table?.reserve[0];
        if (slot !== undefined) return table!.receive[slot]!.capacity;
        return table !== undefined && table.receiveCapacity > 0 ? table.receiveCapacity : 65536;
      },
      allocate: (conn) => {
        const table = this.slots.get(channel.id);
        const slot = table?.reserve.shift();
        if (slot === undefined) return null; // the app has not lent us a slot yet: the handshake is retried
        conn.userData = { channel, slot } satisfies ConnectionOwner;
        table!.connections[slot] = conn;
        return { sendBuffer: table!.send[slot]!, receiveBuffer: table!.receive[slot]! };
      },
    };
    try {
      if (port === 0) port = this.freeListenPort(localAddr);
      const listener = this.engine.listen({ localAddr, port, backlog: backlog > 0 ? backlog : undefined, buffers: provider });
      listener.userData = { channel, id } satisfies ListenerOwner;
      this.listeners.set(`${channel.id}/${id}`, listener);
      this.host.emit(channel, AppEvent.TcpListening, id, localAddr, port, 0, AppError.None);
    } catch {
      this.host.emit(channel, AppEvent.TcpListening, id, localAddr, port, 0, AppError.EADDRINUSE);
    }
  }

  /** Port 0 asks for any free port: the next one without a listener, from Linux's ip_local_port_range. */
  private freeListenPort(localAddr: number): number {
    const taken = new Set<number>();
    for (const l of this.listeners.values()) if (l.localAddr === 0 || localAddr === 0 || l.localAddr === localAddr) taken.add(l.port);
    for (let i = 0; i < LISTEN_PORT_LAST - LISTEN_PORT_FIRST + 1; i++) {
      const port = this.nextListenPort;
      this.nextListenPort = port === LISTEN_PORT_LAST ? LISTEN_PORT_FIRST : port + 1;
      if (!taken.has(port)) return port;
    }
    throw new Error('EADDRINUSE: no free port to listen on');
  }

  private nextListenPort = LISTEN_PORT_FIRST;

  /**
   * An ICMP error quoting one of our segments, or an ARP failure for one: fatal to a connection still opening
   * (RFC 1122 §4.2.3.9), ignored by an established one.
   */
  networkError(now: number, local: number, localPort: number, remote: number, remotePort: number, code: 'EHOSTUNREACH' | 'ENETUNREACH' | 'ECONNREFUSED'): void {
    this.now = now;
    const conn = this.engine.findConnection(local, localPort, remote, remotePort);
    if (conn) this.engine.onNetworkError(now, conn, code);
  }

  // ───────── TcpOutput ─────────

  send(segment: TcpSegmentOut): boolean {
    if (this.host.sendTcpSegment(segment)) return true;
    this.blocked = true; // retried by engine.flush on the next poll
    return false;
  }

  textPhase(headerLength: number): number {
    return this.host.tcpTextPhase?.(headerLength) ?? -1;
  }

  superSegmentLimit(dst: number): number {
    return this.host.tcpSuperSegmentLimit?.(dst) ?? 0;
  }

  // ───────── TcpEventSink ─────────

  onConnected(conn: TcpConnection): void {
    const owner = conn.userData as ConnectionOwner;
    this.host.emit(owner.channel, AppEvent.TcpConnected, owner.slot, conn.localAddr, conn.localPort, 0, 0);
  }

  onIncoming(listener: TcpListener): void {
    const owner = listener.userData as ListenerOwner;
    const local = new Uint8Array(4);
    for (let conn = this.engine.accept(listener); conn; conn = this.engine.accept(listener)) {
      const c = conn.userData as ConnectionOwner;
      local[0] = conn.localAddr >>> 24; local[1] = conn.localAddr >>> 16; local[2] = conn.localAddr >>> 8; local[3] = conn.localAddr;
      this.host.emit(owner.channel, AppEvent.TcpIncoming, owner.id, conn.remoteAddr, conn.remotePort, conn.localPort, c.slot, local);
    }
  }

  onReadable(conn: TcpConnection): void {
    this.readable.add(conn);
  }

  onWritable(conn: TcpConnection): void {
    this.writable.add(conn);
  }

  onRemoteEof(conn: TcpConnection): void {
    if (this.readable.delete(conn)) this.notify(conn, AppEvent.TcpReadable);
    this.notify(conn, AppEvent.TcpRemoteEof);
  }

  onError(conn: TcpConnection, code: TcpErrorCode): void {
    this.notify(conn, AppEvent.TcpError, ERROR_CODES[code] ?? AppError.ECONNRESET);
  }

  onClosed(conn: TcpConnection): void {
    const owner = conn.userData as ConnectionOwner | null;
    if (!owner) return;
    // Unacknowledged bytes stay in the send ring after an abort: empty it (we are its consumer) so the slot can
    // be reused; the receive ring is the app's to drain.
    const send = conn.sendBuffer;
    if (send) send.advanceHead(send.readableBytes());
    if (this.readable.delete(conn)) this.notify(conn, AppEvent.TcpReadable);
    this.writable.delete(conn);
    this.notify(conn, AppEvent.TcpClosed);
    const table = this.slots.get(owner.channel.id);
    if (table !== undefined && table.connections[owner.slot] === conn) table.connections[owner.slot] = undefined;
    conn.userData = null;
  }

  counters(): Record<string, number> {
    const out: Record<string, number> = { tcpConnections: this.engine.connectionCount, tcpListeners: this.listeners.size };
    for (const [k, v] of Object.entries(this.engine.stats)) out[`tcp${k[0].toUpperCase()}${k.slice(1)}`] = v as number;
    return out;
  }
}
