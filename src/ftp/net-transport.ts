// The FtpTransport over the kernel's TCP (node:net). Needs no privileges.

import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import type { ConnectionOptions, TLSSocket } from 'node:tls';
import { FtpError } from './errors.js';
import { startTls } from './tls.js';
import type { FtpConnectOptions, FtpListener, FtpListenOptions, FtpSocket, FtpTransport } from './transport.js';
import { waitFor } from './wait.js';

export class NetTransport implements FtpTransport {
  readonly name = 'kernel';

  connect(options: FtpConnectOptions): Promise<FtpSocket> {
    return waitFor<FtpSocket>(
      (resolve, reject) => {
        const socket = netConnect({ host: options.host, port: options.port });
        let connected = false;
        const onConnect = (): void => {
          connected = true;
          socket.setNoDelay(true);
          resolve(socket);
        };
        const onError = (error: Error): void => {
          reject(new FtpError('connection', `cannot connect to ${options.host}:${options.port}: ${error.message}`, { cause: error }));
        };
        socket.once('connect', onConnect);
        socket.once('error', onError);
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
      const server = createServer();
      server.once('error', (error) =>
        reject(new FtpError('connection', `cannot listen on ${options.host}: ${error.message}`, { cause: error })),
      );
      server.listen({ host: options.host, port: options.port ?? 0, backlog: 4 }, () => {
        resolve(new NetListener(server, options.host));
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
  private closed = false;

  constructor(private readonly server: Server, host: string) {
    const address = server.address();
    this.host = host;
    this.port = typeof address === 'object' && address !== null ? address.port : 0;
    server.on('connection', (socket: Socket) => {
      if (this.waiter !== undefined) this.waiter(socket);
      else if (this.queue.length < 4) this.queue.push(socket);
      else socket.destroy(); // bounded: nobody asked for that many connections
    });
    server.on('error', () => this.close());
  }

  accept(options: { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<FtpSocket> {
    return waitFor<FtpSocket>(
      (resolve) => {
        const take = (socket: Socket): void => {
          socket.setNoDelay(true);
          resolve(socket);
        };
        const queued = this.queue.shift();
        if (queued !== undefined) {
          take(queued);
          return;
        }
        this.waiter = take;
        return () => {
          this.waiter = undefined;
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
  }
}
