import { EventEmitter } from 'node:events';
import { formatIpv4Address, parseIpv4Address } from '../wire/index.js';
import {
  AppCommand, AppError, AppEvent, appErrorName, beginAppRecord, commitAppRecord, pushAppRecord, type AppRecord,
} from '../workers/app-protocol.js';
import type { AppChannelClient } from './app-channel.js';
import { errnoError } from './errors.js';

export interface RemoteInfo {
  address: string;
  family: 'IPv4';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

const MAX_UDP_PAYLOAD = 65535 - 20 - 8;

function checkPort(port: number, allowZero: boolean): void {
  if (!Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    const err = new RangeError(`Port should be ${allowZero ? '>= 0' : '> 0'} and < 65536. Received ${String(port)}.`) as RangeError & { code: string };
    err.code = 'ERR_SOCKET_BAD_PORT';
    throw err;
  }
}

function checkAddress(address: string): number {
  const a = parseIpv4Address(address);
  if (a < 0) {
    const err = new TypeError(`invalid IPv4 address: ${JSON.stringify(address)}`) as TypeError & { code: string };
    err.code = 'ERR_INVALID_ARG_VALUE';
    throw err;
  }
  return a;
}

/**
 * A UDP socket on the stack with node:dgram's shape: `bind`, `send(msg, port, address[, cb])`, `connect`,
 * `address()`, `close()`, and the events 'listening', 'message' (msg, rinfo), 'error', 'close'. Every datagram
 * carries its source address and port (recvmsg semantics); sends name their destination (sendmsg).
 */
export class UdpSocket extends EventEmitter {
  private readonly id: number;
  private state: 'unbound' | 'binding' | 'bound' | 'closed' = 'unbound';
  private local: AddressInfo = { address: '0.0.0.0', family: 'IPv4', port: 0 };
  private remote: AddressInfo | null = null;
  private bindWaiters: Array<() => void> = [];

  constructor(private readonly channel: AppChannelClient) {
    super();
    this.id = channel.allocateId();
    channel.on(AppEvent.UdpBound, this.id, (r) => this.onBound(r));
    channel.on(AppEvent.UdpDatagram, this.id, (r, bytes) => this.onDatagram(r, bytes));
    channel.on(AppEvent.UdpError, this.id, (r) => this.onError(r));
  }

  bind(port = 0, address = '0.0.0.0', callback?: () => void): this {
    if (this.state !== 'unbound') throw errnoError('EINVAL', 'bind', 'socket is already bound');
    checkPort(port, true);
    const addr = checkAddress(address);
    this.state = 'binding';
    if (callback) this.once('listening', callback);
    this.channel.send((ring) => pushAppRecord(ring, AppCommand.UdpBind, this.id, addr, port, 0, 0));
    return this;
  }

  /** Resolves once bound (binding implicitly, like dgram, if nobody did). */
  private whenBound(): Promise<void> {
    if (this.state === 'bound') return Promise.resolve();
    if (this.state === 'unbound') this.bind(0);
    return new Promise((resolve) => this.bindWaiters.push(resolve));
  }

  send(msg: Uint8Array | string, port?: number, address?: string, callback?: (err: Error | null, bytes?: number) => void): void {
    if (this.state === 'closed') throw errnoError('ERR_SOCKET_DGRAM_NOT_RUNNING', 'send', 'socket is closed');
    const data = typeof msg === 'string' ? Buffer.from(msg) : msg;
    let dst: number, dstPort: number;
    if (port === undefined) {
      if (!this.remote) throw errnoError('EDESTADDRREQ', 'send', 'no destination: pass port and address, or connect() first');
      dst = checkAddress(this.remote.address);
      dstPort = this.remote.port;
    } else {
      checkPort(port, false);
      dst = checkAddress(address ?? '127.0.0.1');
      dstPort = port;
    }
    if (data.length > MAX_UDP_PAYLOAD) {
      const err = errnoError('EMSGSIZE', 'send', `${data.length} bytes do not fit a datagram`, address, port);
      if (callback) queueMicrotask(() => callback(err));
      else this.emit('error', err);
      return;
    }
    // The bytes are copied at once: the caller may reuse its buffer as soon as send returns, as with dgram.
    const copy = data.byteLength > 0 ? Uint8Array.prototype.slice.call(data) : new Uint8Array(0);
    const write = (): void => {
      this.channel.send((ring) => {
        const at = beginAppRecord(ring, copy.length, this.id, dst, dstPort, 0, 0);
        if (at < 0) return false;
        ring.bytes.set(copy, at);
        commitAppRecord(ring, AppCommand.UdpSend, copy.length);
        if (callback) queueMicrotask(() => callback(null, copy.length));
        return true;
      });
    };
    if (this.state === 'bound') write();
    else void this.whenBound().then(write);
  }

  connect(port: number, address = '127.0.0.1', callback?: () => void): void {
    checkPort(port, false);
    const addr = checkAddress(address);
    this.remote = { address, family: 'IPv4', port };
    void this.whenBound().then(() => {
      this.channel.send((ring) => pushAppRecord(ring, AppCommand.UdpConnect, this.id, addr, port, 0, 0));
      if (callback) queueMicrotask(callback);
      this.emit('connect');
    });
  }

  address(): AddressInfo {
    if (this.state !== 'bound') throw errnoError('EBADF', 'getsockname', 'socket is not bound');
    return { ...this.local };
  }

  remoteAddress(): AddressInfo {
    if (!this.remote) throw errnoError('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'getpeername', 'not connected');
    return { ...this.remote };
  }

  close(callback?: () => void): this {
    if (this.state === 'closed') return this;
    const wasBound = this.state !== 'unbound';
    this.state = 'closed';
    if (wasBound) this.channel.send((ring) => pushAppRecord(ring, AppCommand.UdpClose, this.id, 0, 0, 0, 0));
    for (const op of [AppEvent.UdpBound, AppEvent.UdpDatagram, AppEvent.UdpError]) this.channel.off(op, this.id);
    if (callback) this.once('close', callback);
    queueMicrotask(() => this.emit('close'));
    return this;
  }

  // dgram compatibility: our sockets never hold the event loop on their own.
  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  private onBound(r: AppRecord): void {
    if (r.value !== AppError.None) {
      this.state = 'unbound';
      this.emit('error', errnoError(appErrorName(r.value), 'bind', '', formatIpv4Address(r.address), r.port));
      return;
    }
    this.state = 'bound';
    this.local = { address: formatIpv4Address(r.address), family: 'IPv4', port: r.extra };
    const waiters = this.bindWaiters;
    this.bindWaiters = [];
    for (const w of waiters) w();
    this.emit('listening');
  }

  private onDatagram(r: AppRecord, bytes: Uint8Array): void {
    const msg = Buffer.from(bytes.subarray(r.dataOffset, r.dataOffset + r.dataLength)); // copied out of the ring
    this.emit('message', msg, { address: formatIpv4Address(r.address), family: 'IPv4', port: r.port, size: r.dataLength } satisfies RemoteInfo);
  }

  private onError(r: AppRecord): void {
    const err = errnoError(appErrorName(r.value), 'send', '', formatIpv4Address(r.address), r.port || undefined);
    // Like an unconnected dgram socket without listeners, an asynchronous error nobody listens for is not fatal.
    if (this.listenerCount('error') > 0) this.emit('error', err);
  }
}
