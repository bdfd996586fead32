import { EventEmitter } from 'node:events';
import { formatIpv4Address, parseIpv4Address } from '../wire/index.js';
import { AppCommand, AppError, AppEvent, appErrorName, pushAppRecord, type AppRecord } from '../workers/app-protocol.js';
import { errnoError } from './errors.js';
import { TcpSocket, type SocketContext } from './tcp-socket.js';

export interface ListenOptions {
  port: number;
  host?: string;
  backlog?: number;
}

let listenersMade = 0;

/**
 * A listening TCP socket with node:net's Server shape: `listen(port[, host][, backlog][, callback])`, `close()`,
 * `address()`, and the events 'listening', 'connection' (socket), 'error', 'close'.
 */
export class TcpServer extends EventEmitter {
  private readonly id = ++listenersMade;
  private state: 'idle' | 'binding' | 'listening' | 'closed' = 'idle';
  private bound: { address: string; family: 'IPv4'; port: number } | null = null;
  private readonly sockets = new Set<TcpSocket>();
  private closeWaiters: Array<(err?: Error) => void> = [];
  private closeEmitted = false;

  /** @internal made by stack.createServer */
  constructor(private readonly context: SocketContext, onConnection?: (socket: TcpSocket) => void, private readonly allowHalfOpen = false) {
    super();
    if (onConnection) this.on('connection', onConnection);
  }

  get listening(): boolean {
    return this.state === 'listening';
  }

  listen(port: number | ListenOptions, ...rest: unknown[]): this {
    const callback = typeof rest[rest.length - 1] === 'function' ? (rest.pop() as () => void) : undefined;
    const options: ListenOptions = typeof port === 'object' ? port : { port, host: typeof rest[0] === 'string' ? rest[0] : undefined, backlog: typeof rest[0] === 'number' ? rest[0] : typeof rest[1] === 'number' ? rest[1] : undefined };
    if (this.state !== 'idle') throw errnoError('ERR_SERVER_ALREADY_LISTEN', 'listen', 'listen was already called');
    if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
      throw Object.assign(new RangeError(`listen: port must be 0..65535 (0: any free port), got ${String(options.port)}`), { code: 'ERR_SOCKET_BAD_PORT' });
    }
    const host = options.host ?? '0.0.0.0';
    const address = parseIpv4Address(host);
    if (address < 0) throw Object.assign(new TypeError(`listen: not an IPv4 address: ${JSON.stringify(host)}`), { code: 'ERR_INVALID_IP_ADDRESS' });
    if (callback) this.once('listening', callback);
    this.state = 'binding';
    const ch = this.context.channel;
    ch.on(AppEvent.TcpListening, this.id, (r) => this.onListening(r));
    ch.on(AppEvent.TcpIncoming, this.id, (r, bytes) => this.onIncoming(r, bytes));
    ch.send((ring) => pushAppRecord(ring, AppCommand.TcpListen, this.id, address, options.port, 0, options.backlog ?? 511));
    return this;
  }

  private onListening(r: AppRecord): void {
    if (r.value !== AppError.None) {
      this.state = 'idle';
      this.detachHandlers();
      this.emit('error', errnoError(appErrorName(r.value), 'listen', '', formatIpv4Address(r.address), r.port));
      return;
    }
    this.state = 'listening';
    this.bound = { address: formatIpv4Address(r.address), family: 'IPv4', port: r.port };
    this.context.pool.listenerAdded();
    this.emit('listening');
  }

  private onIncoming(r: AppRecord, bytes: Uint8Array): void {
    this.context.pool.takeLent();
    const o = r.dataOffset;
    const local = ((bytes[o] << 24) | (bytes[o + 1] << 16) | (bytes[o + 2] << 8) | bytes[o + 3]) >>> 0;
    const socket = new TcpSocket(this.context, this.allowHalfOpen);
    socket.adoptAccepted(r.value, local, r.extra, r.address, r.port);
    if (this.state !== 'listening') {
      socket.destroy(); // accepted while closing: reset it
      return;
    }
    this.sockets.add(socket);
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.maybeClosed();
    });
    this.emit('connection', socket);
  }

  address(): { address: string; family: 'IPv4'; port: number } | null {
    return this.bound ? { ...this.bound } : null;
  }

  getConnections(callback: (err: Error | null, count: number) => void): this {
    queueMicrotask(() => callback(null, this.sockets.size));
    return this;
  }

  /** Stops accepting; 'close' follows once every accepted connection has closed, as with net.Server. */
  close(callback?: (err?: Error) => void): this {
    if (this.state === 'closed' || this.state === 'idle') {
      if (callback) queueMicrotask(() => callback(errnoError('ERR_SERVER_NOT_RUNNING', 'close', 'server is not running')));
      return this;
    }
    if (this.state === 'listening') this.context.pool.listenerRemoved();
    this.state = 'closed';
    this.context.channel.send((ring) => pushAppRecord(ring, AppCommand.TcpUnlisten, this.id, 0, 0, 0, 0));
    this.detachHandlers();
    if (callback) this.closeWaiters.push(callback);
    this.maybeClosed();
    return this;
  }

  private detachHandlers(): void {
    this.context.channel.off(AppEvent.TcpListening, this.id);
    this.context.channel.off(AppEvent.TcpIncoming, this.id);
  }

  private maybeClosed(): void {
    if (this.state !== 'closed' || this.sockets.size > 0 || this.closeEmitted) return;
    this.closeEmitted = true;
    const waiters = this.closeWaiters.splice(0);
    queueMicrotask(() => {
      for (const w of waiters) w();
      this.emit('close');
    });
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }
}
