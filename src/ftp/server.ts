// FtpServer: accepts control connections on any FtpTransport (node:net now, the ringstack sockets later) and runs
// one FtpSession per client, serving a read-only root and an optional upload directory. Connection limits are
// enforced at accept time ("421 too many connections"), and close() ends every session and leaves nothing running.

import { createSecureContext, type SecureContext } from 'node:tls';
import { unmapIPv4 } from './passive.js';
import { formatReply } from './server-reply.js';
import { ServedTree } from './server-paths.js';
import { FtpSession, type FtpServerCounters, type FtpServerLimits, type FtpServerUser, type SessionContext } from './server-session.js';
import type { FtpListener, FtpSocket, FtpTransport } from './transport.js';

export type { FtpServerCounters, FtpServerLimits, FtpServerUser } from './server-session.js';

export const DEFAULT_SERVER_LIMITS: FtpServerLimits = {
  maxSessionsPerAddress: 8,
  maxSessions: 64,
  idleMs: 300_000,
  dataConnectMs: 15_000,
  dataIdleMs: 30_000,
  maxCommandLineBytes: 4096,
  maxLoginFailures: 3,
  maxUploadBytes: undefined,
  maxListingEntries: 100_000,
  readChunkBytes: 256 * 1024,
};

export interface FtpServerOptions {
  readonly transport: FtpTransport;
  /** The directory served read-only as "/". */
  readonly root: string;
  /** A writable directory, shown in the root as "/upload" (or `name`). */
  readonly upload?: { readonly dir: string; readonly name?: string | undefined } | undefined;
  /** Anonymous logins ("anonymous"/"ftp", any password). Default true. */
  readonly anonymous?: boolean | undefined;
  /** Anonymous users may also STOR/APPE/DELE in the upload directory. Default false. */
  readonly anonymousUpload?: boolean | undefined;
  readonly users?: readonly FtpServerUser[] | undefined;
  /** Explicit FTPS (AUTH TLS, PBSZ, PROT P, RFC 4217) with this key and certificate (PEM). */
  readonly tls?: {
    readonly key: string | Buffer;
    readonly cert: string | Buffer;
    /** Data connections must resume the control connection's TLS session (vsftpd's default). Default true. */
    readonly requireSessionReuse?: boolean | undefined;
    /** Users (not anonymous) must secure the control connection before USER. Default false. */
    readonly requireForLogin?: boolean | undefined;
    readonly minVersion?: 'TLSv1.2' | 'TLSv1.3' | undefined;
    readonly maxVersion?: 'TLSv1.2' | 'TLSv1.3' | undefined;
  } | undefined;
  readonly limits?: Partial<FtpServerLimits> | undefined;
  /** The 220 greeting's text. */
  readonly greeting?: string | undefined;
  /** Every command (passwords hidden) and reply, prefixed by session id and client address. */
  readonly log?: ((line: string) => void) | undefined;
  /** The clock for listing dates. */
  readonly clock?: (() => Date) | undefined;
}

export interface FtpServerAddress {
  readonly host: string;
  readonly port: number;
}

export class FtpServer {
  private readonly options: FtpServerOptions;
  private readonly limits: FtpServerLimits;
  private readonly counterValues: FtpServerCounters = {
    sessionsAccepted: 0, sessionsActive: 0, sessionsRefused: 0, bytesSent: 0, bytesReceived: 0,
    transfersCompleted: 0, transfersFailed: 0, errorReplies: 0, loginFailures: 0, sessionErrors: 0,
    foreignDataConnections: 0,
  };
  private readonly sessions = new Set<FtpSession>();
  private readonly perAddress = new Map<string, number>();
  private readonly refused = new Set<FtpSocket>();
  private listener: FtpListener | undefined;
  private acceptLoop: Promise<void> | undefined;
  private closing = false;
  private nextId = 1;

  constructor(options: FtpServerOptions) {
    this.options = options;
    this.limits = { ...DEFAULT_SERVER_LIMITS, ...options.limits };
    for (const user of options.users ?? []) {
      if (user.name === '' || /[\x00-\x1f\x7f]/.test(user.name)) throw new Error(`invalid user name ${JSON.stringify(user.name)}`);
    }
  }

  /** Starts listening (port 0: any free port) and accepting; resolves with the address once it listens. */
  async listen(options: { port?: number | undefined; host?: string | undefined } = {}): Promise<FtpServerAddress> {
    if (this.listener !== undefined || this.closing) throw new Error('FtpServer.listen: already listening or closed');
    const tree = await ServedTree.open(this.options.root, this.options.upload === undefined ? undefined : {
      dir: this.options.upload.dir,
      name: this.options.upload.name ?? 'upload',
    });
    const tls = this.options.tls;
    let secureContext: SecureContext | undefined;
    if (tls !== undefined) {
      secureContext = createSecureContext({ key: tls.key, cert: tls.cert, minVersion: tls.minVersion ?? 'TLSv1.2', maxVersion: tls.maxVersion ?? 'TLSv1.3' });
    }
    const context: SessionContext = {
      transport: this.options.transport,
      tree,
      limits: this.limits,
      users: new Map((this.options.users ?? []).map((user) => [user.name, user])),
      anonymous: this.options.anonymous ?? true,
      anonymousUpload: this.options.anonymousUpload ?? false,
      tls: secureContext === undefined ? undefined : {
        context: secureContext,
        requireSessionReuse: tls?.requireSessionReuse ?? true,
        requireForLogin: tls?.requireForLogin ?? false,
      },
      counters: this.counterValues,
      greeting: this.options.greeting ?? 'ringstack FTP server ready.',
      log: this.options.log,
      now: this.options.clock ?? (() => new Date()),
    };
    const listener = await this.options.transport.listen({
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      backlog: Math.max(16, this.limits.maxSessions),
    });
    this.listener = listener;
    this.acceptLoop = this.accept(listener, context);
    return { host: listener.host, port: listener.port };
  }

  /** Where it listens, once listening. */
  address(): FtpServerAddress | undefined {
    return this.listener === undefined ? undefined : { host: this.listener.host, port: this.listener.port };
  }

  /** A snapshot of the counters. */
  get counters(): Readonly<FtpServerCounters> {
    return { ...this.counterValues };
  }

  /** Stops listening, ends every session ("421 Server shutting down") and waits until all are closed. */
  async close(): Promise<void> {
    this.closing = true;
    this.listener?.close();
    await this.acceptLoop;
    for (const session of this.sessions) session.shutdown('Server shutting down.');
    for (const socket of this.refused) socket.destroy();
    await Promise.all([...this.sessions].map((session) => session.done));
  }

  private async accept(listener: FtpListener, context: SessionContext): Promise<void> {
    for (;;) {
      let socket: FtpSocket;
      try {
        socket = await listener.accept({ timeoutMs: undefined });
      } catch {
        return; // closed
      }
      if (this.closing) {
        socket.destroy();
        return;
      }
      this.admit(socket, context);
    }
  }

  private admit(socket: FtpSocket, context: SessionContext): void {
    const address = unmapIPv4(socket.remoteAddress ?? '');
    const fromAddress = this.perAddress.get(address) ?? 0;
    if (fromAddress >= this.limits.maxSessionsPerAddress || this.sessions.size >= this.limits.maxSessions) {
      this.counterValues.sessionsRefused++;
      const why = fromAddress >= this.limits.maxSessionsPerAddress
        ? `Too many connections from your address (at most ${this.limits.maxSessionsPerAddress}).`
        : `Too many connections (at most ${this.limits.maxSessions}).`;
      this.options.log?.(`[- ${address}] < 421 ${why}`);
      this.refused.add(socket);
      const timer = setTimeout(() => socket.destroy(), 2000);
      socket.on('error', () => {});
      socket.once('close', () => {
        clearTimeout(timer);
        this.refused.delete(socket);
      });
      socket.end(formatReply(421, why));
      socket.resume(); // drain whatever the client sends, so its close reaches us
      return;
    }
    this.perAddress.set(address, fromAddress + 1);
    this.counterValues.sessionsAccepted++;
    this.counterValues.sessionsActive++;
    const session = new FtpSession(socket, context, this.nextId++);
    this.sessions.add(session);
    void session.done.then(() => {
      this.sessions.delete(session);
      this.counterValues.sessionsActive--;
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left === 0) this.perAddress.delete(address);
      else this.perAddress.set(address, left);
    });
  }
}
