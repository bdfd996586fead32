// The FtpTransport over node:net's shapes: the kernel's TCP by default (needs no privileges), or any socket API with
// the same shapes — ringstack's stack (stack.connect, stack.createServer) is one.

import * as net from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { FtpError } from './errors.js';
import { startTls } from './tls.js';
import type { FtpConnectOptions, FtpDirectReceive, FtpListener, FtpListenOptions, FtpPreparedSocket, FtpSocket, FtpTransport } from './transport.js';
import { waitFor } from './wait.js';

/** A connected socket as node:net makes them. */
export interface NetLikeSocket extends FtpSocket {
  setNoDelay(noDelay?: boolean): unknown;
}

/** A socket made before it connects (node:net's `new Socket()`, then `connect`). */
export interface UnconnectedSocket extends NetLikeSocket {
  connect(options: { host: string; port: number }): unknown;
}

/** A listening socket as node:net makes them. */
export interface NetLikeServer {
  listen(options: { host: string; port: number; backlog: number }, callback: () => void): unknown;
  address(): { port: number } | string | null;
  close(): unknown;
  on(event: 'connection', listener: (socket: NetLikeSocket) => void): unknown;
  on(event: 'error', listener: (error: Error) => void): unknown;
  once(event: 'error', listener: (error: Error) => void): unknown;
}

/** node:net's `onread`: reads go into `buffer` (or the buffer it returns) and to `callback`, not to 'data' events. */
export interface OnRead {
  readonly buffer: Uint8Array | (() => Uint8Array);
  callback(length: number, buffer: Uint8Array): boolean;
}

/** Where sockets come from: node:net, or a user-space stack with the same surface (which may ignore `onread`). */
export interface SocketApi {
  connect(options: { host: string; port: number; onread?: OnRead | undefined }): NetLikeSocket;
  createServer(): NetLikeServer;
  /** Optional: a socket to connect later (NetTransport.prepare); without it, `prepare` is not offered. */
  socket?(options: { onread?: OnRead | undefined }): UnconnectedSocket;
}

const kernelSockets: SocketApi = {
  connect: ({ host, port, onread }) => net.connect(onread === undefined ? { host, port } : { host, port, onread }),
  createServer: () => net.createServer() as unknown as NetLikeServer,
  // The constructor takes `onread` (net.connect passes its options to it); @types/node lists it for connect only.
  socket: ({ onread }) => new net.Socket((onread === undefined ? {} : { onread }) as net.SocketConstructorOpts),
};

function onReadOf(receive: FtpDirectReceive | undefined): OnRead | undefined {
  if (receive === undefined) return undefined;
  return { buffer: () => receive.nextBuffer(), callback: (length, buffer) => receive.onData(length, buffer) };
}

type Socket = NetLikeSocket;
type Server = NetLikeServer;

export class NetTransport implements FtpTransport {
  readonly prepare: ((options: Omit<FtpConnectOptions, 'host' | 'port'>) => FtpPreparedSocket) | undefined;

  constructor(readonly name = 'kernel', private readonly sockets: SocketApi = kernelSockets) {
    const makeSocket = sockets.socket?.bind(sockets);
    this.prepare = makeSocket === undefined ? undefined : (options) => {
      const socket = makeSocket({ onread: onReadOf(options.receive) });
      let used = false;
      return {
        connect: (host, port) => {
          if (used) return Promise.reject(new FtpError('usage', 'a prepared socket connects once'));
          used = true;
          return this.whenConnected(() => {
            socket.connect({ host, port });
            return socket;
          }, { ...options, host, port });
        },
        discard: () => {
          if (used) return;
          used = true;
          socket.destroy();
        },
      };
    };
  }

  connect(options: FtpConnectOptions): Promise<FtpSocket> {
    return this.whenConnected(
      () => this.sockets.connect({ host: options.host, port: options.port, onread: onReadOf(options.receive) }),
      options,
    );
  }

  /** Starts the connection (`start`) and waits for it, bounded by the timeout and the signal. */
  private whenConnected(start: () => NetLikeSocket, options: FtpConnectOptions): Promise<FtpSocket> {
    return waitFor<FtpSocket>(
      (resolve, reject) => {
        const socket = start();
        let connected = false;
        const onConnect = (): void => {
          connected = true;
          if (options.noDelay !== false) socket.setNoDelay(true);
          resolve(socket);
        };
        const onError = (error: Error): void => {
          reject(new FtpError('connection', `cannot connect to ${options.host}:${options.port}: ${error.message}`, { cause: error }));
        };
        // `on`, not `once`: the cleanup below removes both whichever comes first, and `once` wraps each listener.
        socket.on('connect', onConnect);
        socket.on('error', onError);
        return () => {
          socket.off('connect', onConnect);
          socket.off('error', onError);
          if (!connected) socket.destroy();
        };
      },
      { timeoutMs: options.timeoutMs, what: `connecting to ${options.host}:${options.port}`, signal: options.signal },
    );
  }

  listen(options: FtpListenOptions): Promise<FtpListener> {
    return new Promise<FtpListener>((resolve, reject) => {
      const server = this.sockets.createServer();
      server.once('error', (error) =>
        reject(new FtpError('connection', `cannot listen on ${options.host}: ${error.message}`, { cause: error })),
      );
      const backlog = options.backlog ?? 4;
      server.listen({ host: options.host, port: options.port ?? 0, backlog }, () => {
        resolve(new NetListener(server, options.host, backlog));
      });
    });
  }

  upgradeToTls(
    socket: FtpSocket,
    options: ConnectionOptions & { timeoutMs: number; signal?: AbortSignal | undefined },
  ): Promise<TLSSocket> {
    return startTls(socket, options);
  }
}

class NetListener implements FtpListener {
  readonly host: string;
  readonly port: number;
  private readonly queue: Socket[] = [];
  private waiter: ((socket: Socket) => void) | undefined;
  private closedWaiter: (() => void) | undefined;
  private closed = false;

  constructor(private readonly server: Server, host: string, private readonly backlog: number) {
    const address = server.address();
    this.host = host;
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    server.on('connection', (socket: Socket) => {
      if (this.waiter !== undefined) this.waiter(socket);
      else if (this.queue.length < this.backlog) this.queue.push(socket);
      else socket.destroy(); // bounded: nobody asked for that many connections
    });
    server.on('error', () => this.close());
  }

  accept(options: { timeoutMs: number | undefined; signal?: AbortSignal | undefined }): Promise<FtpSocket> {
    return waitFor<FtpSocket>(
      (resolve, reject) => {
        const take = (socket: Socket): void => {
          socket.setNoDelay(true);
          resolve(socket);
        };
        const queued = this.queue.shift();
        if (queued !== undefined) {
          take(queued);
          return;
        }
        if (this.closed) {
          reject(new FtpError('connection', `listener on port ${this.port} is closed`));
          return;
        }
        this.waiter = take;
        this.closedWaiter = () => reject(new FtpError('connection', `listener on port ${this.port} closed`));
        return () => {
          this.waiter = undefined;
          this.closedWaiter = undefined;
        };
      },
      { timeoutMs: options.timeoutMs, what: `waiting for the server's data connection on port ${this.port}`, signal: options.signal },
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.server.close();
    for (const socket of this.queue.splice(0)) socket.destroy();
    this.closedWaiter?.();
  }
}
