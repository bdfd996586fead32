import { Duplex } from 'node:stream';
import { copyBytes, type ByteRing, type ByteRingDirectReader } from '../shared-ring/index.js';
import { formatIpv4Address, parseIpv4Address } from '../wire/index.js';
import {
  AppCommand, AppEvent, TcpOption, TcpSocketFlags, appErrorName, pushAppRecordU32, type AppRecord,
} from '../workers/app-protocol.js';
import type { AppChannelClient, SlotEventSink } from './app-channel.js';
import { errnoError, type ErrnoLikeError } from './errors.js';
import type { SocketSlotPool } from './socket-slots.js';
import type { TcpInfo } from '../workers/tcp/types.js';

/** A TCP_INFO-like view of a connection (the engine's, as it crosses the app channel in JSON). */
export type { TcpInfo } from '../workers/tcp/types.js';

export interface TcpConnectOptions {
  host: string;
  port: number;
  localPort?: number;
  noDelay?: boolean;
  keepAlive?: boolean;
  /** Congestion control: 'newreno' (default) or 'cubic'. */
  congestion?: 'newreno' | 'cubic';
  /** Idle timeout in ms: 'timeout' is emitted, as net.Socket's setTimeout. */
  timeout?: number;
  /** Keep the writable side open after the peer's FIN (default false, as net.Socket). */
  allowHalfOpen?: boolean;
  /** As net.connect's `onread`: reads land in a caller-owned buffer, with no allocation and no 'data' events. */
  onread?: TcpOnread;
}

/**
 * net.Socket's `onread` option. `callback(n, buffer)` gets the first `n` bytes of `buffer`, which the next read
 * overwrites; returning false pauses the socket until `resume()`. 'end', 'error' and 'close' come as usual.
 */
export interface TcpOnread {
  buffer: Uint8Array | (() => Uint8Array);
  callback(bytesWritten: number, buffer: Uint8Array): boolean | void;
}

export type SocketOption = 'SO_RCVBUF' | 'SO_SNDBUF' | 'TCP_NODELAY' | 'SO_KEEPALIVE' | 'SO_REUSEADDR' | 'TCP_MAXSEG';

/** What a socket needs from its stack: the app channel and the buffer slots. */
export interface SocketContext {
  readonly channel: AppChannelClient;
  readonly pool: SocketSlotPool;
}

const READ_CHUNK = 64 * 1024;

/** The buffer the next `onread` read goes into: the caller's one buffer, or what its function returns now. */
function callerBuffer(onread: TcpOnread): Uint8Array {
  return typeof onread.buffer === 'function' ? onread.buffer() : onread.buffer;
}
/** The smallest SO_RCVBUF / SO_SNDBUF honoured (about Linux's minimum): windows still open in useful steps. */
const MIN_SOCKET_BUFFER = 2048;
/** setKeepAlive(true) without a delay: the first probe after two idle hours (RFC 1122 §4.2.3.6, Linux's default). */
const DEFAULT_KEEPALIVE_MS = 7_200_000;

/**
 * Dotted quads of the addresses sockets were given, by number: a connection's two addresses are formatted once per
 * peer, not once per connection (a server talks to few addresses; bounded for one that talks to many).
 */
const addressTexts = new Map<number, string>();

function addressText(address: number): string {
  let text = addressTexts.get(address);
  if (text === undefined) {
    if (addressTexts.size >= 1024) addressTexts.clear();
    addressTexts.set(address, (text = formatIpv4Address(address)));
  }
  return text;
}

function checkPort(port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) {
    const err = new RangeError(`Port should be > 0 and < 65536. Received ${String(port)}.`) as RangeError & { code: string };
    err.code = 'ERR_SOCKET_BAD_PORT';
    throw err;
  }
  return port;
}

/**
 * A TCP connection of the stack as a `stream.Duplex` with the `net.Socket` surface libraries rely on: 'connect',
 * `write`, `end()` (FIN), `destroy()` (RST), setNoDelay/setKeepAlive/setTimeout, address(), remoteAddress/
 * remotePort, bytesRead/bytesWritten, and errors with Node's codes. Its bytes move through two byte rings shared
 * with the protocol stage; only small notices go through the app channel.
 */
export class TcpSocket extends Duplex implements SlotEventSink {
  connecting = false;
  remoteAddress: string | undefined;
  remotePort: number | undefined;
  remoteFamily: 'IPv4' | undefined;
  localAddress: string | undefined;
  localPort: number | undefined;
  bytesRead = 0;
  private written = 0;
  private slot = -1;
  private send: ByteRing | null = null;
  private receive: ByteRing | null = null;
  private pendingWrite: { chunk: Uint8Array; offset: number; callback: (err?: Error | null) => void } | null = null;
  private pendingFinal: ((err?: Error | null) => void) | null = null;
  private wantRead = false;
  private remoteEof = false;
  private eofPushed = false;
  private stageClosed = false;
  private finSent = false;
  private notifyWrittenScheduled = false;
  private notifyReadScheduled = false;
  private timeoutMs = 0;
  private idleTimer: ReturnType<typeof setTimeout> | null = null;
  private infoWaiters: Array<(info: TcpInfo | null) => void> = [];
  private noDelay = false;
  private keepAlive = 0;
  private resetRequested = false;
  private onread: TcpOnread | null = null;
  private onreadPaused = false;
  /** What a paused `onread` socket had not taken when the stage let go of its ring: delivered on resume(). */
  private onreadBacklog: Buffer | null = null;
  /**
   * `onread` with an `inline` stack: the caller's buffer the protocol stage copied received bytes into straight
   * from the frame (`directReader`), and how many, handed to the callback before anything in the ring.
   */
  private directBuffer: Uint8Array | null = null;
  private directFill = 0;
  /** The same without `onread`: what the stage copied straight from frames, pushed before the ring's bytes. */
  private readonly directChunks: Buffer[] = [];
  private readonly directReader: ByteRingDirectReader = { take: (src, srcOffset, len) => this.takeDirect(src, srcOffset, len) };
  /** SO_RCVBUF set by the application (0: auto-tuning up to the ring). */
  private receiveBufferLimit = 0;
  /** SO_SNDBUF set by the application (0: the whole ring). */
  private sendBufferLimit = 0;

  /** @internal sockets are made by `stack.connect` or handed out by a server. */
  constructor(private readonly context: SocketContext, allowHalfOpen = false) {
    super({ allowHalfOpen, decodeStrings: true });
  }

  get bytesWritten(): number {
    return this.written;
  }

  get pending(): boolean {
    return this.slot < 0 || this.connecting;
  }

  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.destroyed || this.stageClosed) return 'closed';
    if (this.remoteEof && !this.writableEnded) return 'writeOnly';
    if (!this.remoteEof && this.writableEnded) return 'readOnly';
    return 'open';
  }

  /** @internal starts an active open. */
  startConnect(options: TcpConnectOptions): void {
    const port = checkPort(options.port);
    const address = parseIpv4Address(options.host);
    if (address < 0) throw Object.assign(new TypeError(`connect: not an IPv4 address: ${JSON.stringify(options.host)} (resolve names first)`), { code: 'ERR_INVALID_IP_ADDRESS' });
    if (options.localPort !== undefined && options.localPort !== 0) checkPort(options.localPort);
    this.connecting = true;
    this.remoteAddress = addressText(address);
    this.remotePort = port;
    this.remoteFamily = 'IPv4';
    this.noDelay = options.noDelay ?? false;
    if (options.keepAlive) this.keepAlive = DEFAULT_KEEPALIVE_MS;
    if (options.onread) {
      const { buffer, callback } = options.onread;
      if (!(buffer instanceof Uint8Array) && typeof buffer !== 'function') throw new TypeError('onread.buffer must be a Uint8Array or a function returning one');
      if (typeof callback !== 'function') throw new TypeError('onread.callback must be a function');
      this.onread = options.onread;
      super.resume(); // no 'data' listener will make the stream flow, and 'end' needs it to
    }
    if (options.timeout) this.setTimeout(options.timeout);
    void this.context.pool.acquire().then((slot) => {
      if (this.destroyed) {
        this.context.pool.release(slot);
        return;
      }
      this.bindSlot(slot);
      // Options set between connect() and now (no slot yet, so no command could carry them) go with the connect.
      const flags = (this.noDelay ? TcpSocketFlags.NoDelay : 0) | (this.keepAlive > 0 ? TcpSocketFlags.KeepAlive : 0)
        | (options.congestion === 'cubic' ? TcpSocketFlags.Cubic : 0)
        | (this.pendingWrite !== null || this.pendingFinal !== null ? TcpSocketFlags.WritePending : 0);
      const localPort = options.localPort ?? 0, receiveBuffer = this.receiveBufferLimit;
      if (receiveBuffer > 0) { // the SYN's window obeys it
        this.context.channel.send((ring) => pushAppRecordU32(ring, AppCommand.TcpConnect, slot, address, port, localPort, flags, receiveBuffer));
      } else {
        this.context.channel.sendRecord(AppCommand.TcpConnect, slot, address, port, localPort, flags);
      }
      if (this.keepAlive > 0 && this.keepAlive !== DEFAULT_KEEPALIVE_MS) this.command(AppCommand.TcpSetOption, TcpOption.KeepAlive, this.keepAlive);
    }, (err: unknown) => this.destroy(err as Error));
  }

  /** @internal a connection a server accepted, already established. */
  adoptAccepted(slot: number, local: number, localPort: number, remote: number, remotePort: number): void {
    this.bindSlot(slot);
    this.localAddress = addressText(local);
    this.localPort = localPort;
    this.remoteAddress = addressText(remote);
    this.remotePort = remotePort;
    this.remoteFamily = 'IPv4';
    // Data may have arrived before the app saw the connection.
    queueMicrotask(() => this.readMore());
  }

  private bindSlot(slot: number): void {
    this.slot = slot;
    const rings = this.context.pool.rings(slot);
    this.send = rings.send;
    this.receive = rings.receive;
    rings.receive.setDirectReader(this.directReader); // the pool removes it with the slot
    this.context.channel.bindSlot(slot, this);
  }

  /** @internal the app channel's dispatch of this socket's slot events. */
  onSlotEvent(r: AppRecord, bytes: Uint8Array): void {
    switch (r.op) {
      case AppEvent.TcpConnected: return this.onConnected(r);
      case AppEvent.TcpReadable: return this.readMore();
      case AppEvent.TcpWritable: return this.continueWrite();
      case AppEvent.TcpRemoteEof: return this.onRemoteEof();
      case AppEvent.TcpError: return this.onStageError(r);
      case AppEvent.TcpClosed: return this.onStageClosed();
      case AppEvent.TcpInfo: return this.onInfo(r, bytes);
    }
  }

  private command(op: number, extra = 0, value = 0): void {
    if (this.slot < 0 || this.stageClosed || this.context.channel.closed) return; // a closed stack has no one to tell
    this.context.channel.sendRecord(op, this.slot, 0, 0, extra, value);
  }

  private onConnected(r: AppRecord): void {
    this.connecting = false;
    this.localAddress = addressText(r.address);
    this.localPort = r.port;
    this.touch();
    this.emit('connect');
    this.emit('ready');
    this.continueWrite();
    if (this.pendingFinal && !this.pendingWrite) this.sendFin();
  }

  // ───────── reading ─────────

  override _read(): void {
    this.wantRead = true;
    this.readMore();
  }

  override pause(): this {
    if (this.onread) this.onreadPaused = true;
    return super.pause();
  }

  override resume(): this {
    super.resume();
    if (this.onread && this.onreadPaused) {
      this.onreadPaused = false;
      queueMicrotask(() => this.readMore());
    }
    return this;
  }

  /** Moves bytes from the receive ring into the stream while the consumer wants them. */
  private readMore(): void {
    if (this.onread) {
      this.readIntoCallerBuffer(this.onread);
      return;
    }
    const ring = this.receive;
    if (!ring || this.eofPushed) return;
    let moved = 0;
    if (this.directChunks.length > 0) {
      // Taken by the stage before anything now in the ring (takeDirect): all of them, even past the high-water mark
      // (one receive batch at most; the flag stops the next).
      for (const chunk of this.directChunks) {
        this.bytesRead += chunk.length;
        if (!this.push(chunk)) this.wantRead = false;
      }
      this.directChunks.length = 0;
      this.touch();
    }
    while (this.wantRead || this.stageClosed) {
      const available = ring.readableBytes();
      if (available === 0) break;
      const chunk = Buffer.allocUnsafe(Math.min(available, READ_CHUNK));
      ring.read(chunk, 0, chunk.length);
      moved += chunk.length;
      this.bytesRead += chunk.length;
      if (!this.push(chunk)) this.wantRead = false;
    }
    if (moved > 0) {
      this.touch();
      this.scheduleReadNotice();
    }
    if (ring.readableBytes() === 0 && (this.remoteEof || this.stageClosed) && !this.eofPushed) {
      this.eofPushed = true;
      this.push(null);
    }
  }

  /**
   * The stage, on this thread, offers received bytes while the ring is empty. `onread`: copy what fits into the
   * caller's buffer, for the callback when the readable event comes (readIntoCallerBuffer); not while paused or
   * holding a backlog (those bytes come first). Otherwise into a Buffer pushed by readMore, while the stream wants
   * data. Never once the stream ended.
   */
  private takeDirect(src: Uint8Array, srcOffset: number, len: number): number {
    const onread = this.onread;
    if (onread === null) {
      // 'data' mode: a Buffer of its own per segment, as readMore's per read (the stream owns what it is pushed).
      if (!this.wantRead || this.eofPushed || this.destroyed || len === 0) return 0;
      const chunk = Buffer.allocUnsafe(len);
      copyBytes(chunk, 0, src, srcOffset, len);
      this.directChunks.push(chunk);
      return len;
    }
    if (this.onreadPaused || this.onreadBacklog !== null || this.eofPushed || this.destroyed) return 0;
    let buffer = this.directBuffer;
    if (buffer === null) {
      try {
        buffer = callerBuffer(onread);
      } catch {
        return 0; // the stage must not unwind mid-segment: the ring path asks again and the error reaches the app there
      }
      if (!(buffer instanceof Uint8Array) || buffer.length === 0) return 0;
      this.directBuffer = buffer;
    }
    const n = Math.min(len, buffer.length - this.directFill);
    if (n <= 0) return 0;
    copyBytes(buffer, this.directFill, src, srcOffset, n);
    this.directFill += n;
    return n;
  }

  /** `onread`: copies from the ring (or the backlog) into the caller's buffer, one callback per copy. */
  private readIntoCallerBuffer(onread: TcpOnread): void {
    if (this.eofPushed || this.destroyed) return;
    try {
      this.moveToCallerBuffer(onread);
    } catch (error) {
      // The caller's buffer function or callback threw: that is this socket's error, not the stack's (the event
      // dispatch that called us goes on to other sockets).
      this.destroy(error instanceof Error ? error : new Error(String(error)));
    }
  }

  private moveToCallerBuffer(onread: TcpOnread): void {
    const ring = this.receive;
    let moved = 0;
    if (this.directFill > 0 && !this.onreadPaused) {
      const n = this.directFill, buffer = this.directBuffer as Uint8Array;
      this.directFill = 0;
      this.directBuffer = null;
      this.bytesRead += n;
      this.touch();
      if (onread.callback(n, buffer) === false) this.pause();
    }
    while (!this.onreadPaused) {
      const backlog = this.onreadBacklog;
      const available = backlog !== null ? backlog.length : ring !== null ? ring.readableBytes() : 0;
      if (available === 0) break;
      const buffer = callerBuffer(onread);
      if (buffer.length === 0) throw new RangeError('onread.buffer is empty');
      let n: number;
      if (backlog !== null) {
        n = Math.min(backlog.length, buffer.length);
        buffer.set(backlog.subarray(0, n));
        this.onreadBacklog = n === backlog.length ? null : backlog.subarray(n);
      } else {
        n = ring!.read(buffer, 0, Math.min(available, buffer.length));
        moved += n;
      }
      this.bytesRead += n;
      if (onread.callback(n, buffer) === false) this.pause();
    }
    if (this.onreadPaused && this.stageClosed && ring !== null && ring.readableBytes() > 0) {
      // The slot goes back to the pool once we return: keep what the caller has not taken yet.
      const rest = Buffer.allocUnsafe(ring.readableBytes());
      ring.read(rest, 0, rest.length);
      this.onreadBacklog = this.onreadBacklog === null ? rest : Buffer.concat([this.onreadBacklog, rest]);
    }
    if (moved > 0) {
      this.touch();
      this.scheduleReadNotice();
    }
    const drained = this.directFill === 0 && this.onreadBacklog === null && (ring === null || ring.readableBytes() === 0);
    if (drained && (this.remoteEof || this.stageClosed)) {
      this.eofPushed = true;
      this.push(null);
    }
  }

  private scheduleReadNotice(): void {
    if (this.notifyReadScheduled) return;
    this.notifyReadScheduled = true;
    queueMicrotask(() => {
      this.notifyReadScheduled = false;
      this.command(AppCommand.TcpRead);
    });
  }

  private onRemoteEof(): void {
    this.remoteEof = true;
    this.readMore();
  }

  // ───────── writing ─────────

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    this.pendingWrite = { chunk, offset: 0, callback };
    this.continueWrite();
  }

  private continueWrite(): void {
    const w = this.pendingWrite;
    const ring = this.send;
    if (!w || !ring || this.connecting) return;
    if (this.stageClosed) {
      this.pendingWrite = null;
      w.callback(errnoError('EPIPE', 'write', 'the connection is closed'));
      return;
    }
    let room = w.chunk.length - w.offset;
    // SO_SNDBUF: unacknowledged plus unsent bytes (the ring's content; we produce, so from a fresh head).
    if (this.sendBufferLimit > 0) room = Math.min(room, this.sendBufferLimit - (ring.capacity - ring.writableBytes()));
    const n = room > 0 ? ring.write(w.chunk, w.offset, room) : 0;
    if (n > 0) {
      w.offset += n;
      this.written += n;
      this.touch();
      this.scheduleWriteNotice();
    }
    if (w.offset < w.chunk.length) return; // the rest goes when the stage says ACKs made room (TcpWritable)
    this.pendingWrite = null;
    w.callback();
    if (this.pendingFinal) this.sendFin();
  }

  private scheduleWriteNotice(): void {
    if (this.notifyWrittenScheduled) return;
    this.notifyWrittenScheduled = true;
    queueMicrotask(() => {
      this.notifyWrittenScheduled = false;
      this.command(AppCommand.TcpWritten);
    });
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.pendingFinal = callback;
    if (!this.connecting && !this.pendingWrite && this.slot >= 0) this.sendFin();
  }

  private sendFin(): void {
    const callback = this.pendingFinal;
    if (!callback) return;
    this.pendingFinal = null;
    this.finSent = true;
    // The written-notice of the last bytes goes first (same tick, earlier in the command ring).
    queueMicrotask(() => {
      this.command(AppCommand.TcpShutdown);
      callback();
    });
  }

  // ───────── ending ─────────

  private onStageError(r: AppRecord): void {
    const code = appErrorName(r.value);
    const syscall = this.connecting ? 'connect' : 'read';
    const err: ErrnoLikeError = errnoError(code, syscall, this.connecting ? `${this.remoteAddress}:${this.remotePort}` : '', this.remoteAddress, this.remotePort);
    this.connecting = false;
    this.destroy(err);
  }

  private onStageClosed(): void {
    this.stageClosed = true;
    this.readMore(); // whatever is left in the ring is the stream's now
    const slot = this.slot;
    this.context.channel.unbindSlot(slot);
    this.context.pool.release(slot);
    this.send = null;
    this.receive = null; // the slot may carry another connection from now on
    for (const w of this.infoWaiters.splice(0)) w(null);
    if (this.pendingWrite) {
      const w = this.pendingWrite;
      this.pendingWrite = null;
      w.callback(errnoError('EPIPE', 'write', 'the connection is closed'));
    }
    if (!this.destroyed && this.writableFinished && this.eofPushed) this.destroy();
  }

  /**
   * destroy() is close(2) on the descriptor, as with net.Socket: the stage sends FIN, or RST if received bytes were
   * left unread (RFC 9293 §3.6, RFC 1122 §4.2.2.13); `resetAndDestroy()` always resets.
   */
  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.clearIdleTimer();
    if (!this.stageClosed && !(this.finSent && this.remoteEof)) {
      this.command(this.resetRequested || this.connecting ? AppCommand.TcpAbort : AppCommand.TcpClose);
    }
    this.connecting = false;
    callback(err);
  }

  /** Half-closes after pending writes (FIN), then resets if the peer does not close within `ms`. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Sends RST and destroys, as net.Socket.resetAndDestroy does. */
  resetAndDestroy(): this {
    this.resetRequested = true;
    this.destroy();
    return this;
  }

  // ───────── options ─────────

  setNoDelay(noDelay = true): this {
    this.noDelay = noDelay;
    this.command(AppCommand.TcpSetOption, TcpOption.NoDelay, noDelay ? 1 : 0);
    return this;
  }

  setKeepAlive(enable = false, initialDelay = 0): this {
    this.keepAlive = enable ? Math.max(1, initialDelay || DEFAULT_KEEPALIVE_MS) : 0;
    this.command(AppCommand.TcpSetOption, TcpOption.KeepAlive, this.keepAlive);
    return this;
  }

  /** Emits 'timeout' after `ms` without activity (0 turns it off), like net.Socket. */
  setTimeout(ms: number, callback?: () => void): this {
    this.timeoutMs = ms;
    if (callback) this.once('timeout', callback);
    this.touch();
    return this;
  }

  private touch(): void {
    this.clearIdleTimer();
    if (this.timeoutMs > 0 && !this.destroyed) {
      this.idleTimer = setTimeout(() => this.emit('timeout'), this.timeoutMs);
      this.idleTimer.unref();
    }
  }

  private clearIdleTimer(): void {
    if (this.idleTimer) clearTimeout(this.idleTimer);
    this.idleTimer = null;
  }

  getsockopt(name: SocketOption): number | boolean {
    switch (name) {
      case 'SO_RCVBUF':
        // Unset: the most receive auto-tuning may offer (the ring).
        return this.receiveBufferLimit || this.context.pool.bufferBytes;
      case 'SO_SNDBUF':
        return this.sendBufferLimit || this.context.pool.bufferBytes;
      case 'TCP_NODELAY':
        return this.noDelay;
      case 'SO_KEEPALIVE':
        return this.keepAlive > 0;
      case 'SO_REUSEADDR':
        return true; // TIME-WAIT never blocks a new connection (RFC 6191); there is nothing to turn on
      case 'TCP_MAXSEG':
        throw errnoError('ENOPROTOOPT', 'getsockopt', 'TCP_MAXSEG is in getInfo().sndMss');
    }
  }

  setsockopt(name: SocketOption, value: number | boolean): void {
    switch (name) {
      case 'TCP_NODELAY':
        this.setNoDelay(Boolean(value));
        return;
      case 'SO_KEEPALIVE':
        this.setKeepAlive(Boolean(value));
        return;
      case 'SO_REUSEADDR':
        return;
      case 'SO_RCVBUF':
        this.receiveBufferLimit = this.bufferSize(name, value);
        this.command(AppCommand.TcpSetOption, TcpOption.ReceiveBuffer, this.receiveBufferLimit);
        return;
      case 'SO_SNDBUF':
        this.sendBufferLimit = this.bufferSize(name, value);
        this.continueWrite(); // a larger limit may let a waiting write on
        return;
      default:
        throw errnoError('ENOPROTOOPT', 'setsockopt', `${name} cannot be set (the MSS follows the route's MTU)`);
    }
  }

  /**
   * SO_RCVBUF / SO_SNDBUF in bytes, within [MIN_SOCKET_BUFFER, the stack's ring size] (`createStack({
   * socketBufferBytes })`): Linux also clamps to its limits instead of failing.
   */
  private bufferSize(name: SocketOption, value: number | boolean): number {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw Object.assign(new RangeError(`${name} must be a non-negative integer number of bytes, got ${String(value)}`), { code: 'ERR_OUT_OF_RANGE' });
    }
    return Math.min(Math.max(value, MIN_SOCKET_BUFFER), this.context.pool.bufferBytes);
  }

  /** Connection state as the protocol stage sees it (rtt, cwnd, ssthresh, retransmits, ...). */
  getInfo(): Promise<TcpInfo | null> {
    if (this.slot < 0 || this.stageClosed) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.infoWaiters.push(resolve);
      this.command(AppCommand.TcpInfo);
    });
  }

  private onInfo(r: AppRecord, bytes: Uint8Array): void {
    const waiter = this.infoWaiters.shift();
    if (!waiter) return;
    waiter(r.value === 0 ? JSON.parse(Buffer.from(bytes.subarray(r.dataOffset, r.dataOffset + r.dataLength)).toString()) as TcpInfo : null);
  }

  address(): { address: string; family: 'IPv4'; port: number } | Record<string, never> {
    if (this.localAddress === undefined || this.localPort === undefined) return {};
    return { address: this.localAddress, family: 'IPv4', port: this.localPort };
  }

  // Our sockets never hold the event loop open on their own; kept for net.Socket compatibility.
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}
