// The only thing the FTP client knows about networking. Two implementations: node:net (net-transport.ts) and the
// ringstack sockets (src/main), whose sockets are stream.Duplex objects with the same address properties.

import type { Duplex } from 'node:stream';
import type { ConnectionOptions, TLSSocket } from 'node:tls';

/**
 * A connected byte stream: `end()` half-closes (sends FIN, keeps reading), `destroy()` drops the connection.
 * A net.Socket is one; so is a TLSSocket, though its addresses may be undefined when it wraps a plain Duplex.
 */
export interface FtpSocket extends Duplex {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
  readonly localAddress?: string | undefined;
  readonly localPort?: number | undefined;
}

export interface FtpConnectOptions {
  readonly host: string;
  readonly port: number;
  readonly signal?: AbortSignal | undefined;
  /** The transport rejects with FtpError('timeout') if the connection is not up in time. */
  readonly timeoutMs: number;
  /**
   * Turn Nagle's algorithm off (TCP_NODELAY), default true: commands and uploads want every write sent at once.
   * A download's data connection writes nothing and passes false, saving a system call per transfer.
   */
  readonly noDelay?: boolean | undefined;
  /**
   * Optional, for a download's data connection: read straight into `receive`'s buffers (node:net's `onread`), with
   * no allocation per read. A transport that honours it (node:net's sockets and ringstack's TcpSocket both take
   * `onread`) delivers every read through `receive.onData` and emits no 'data' events; one that does not just
   * ignores it, so the reader listens to both. 'end', 'error' and 'close' work as usual, and `pause()`/`resume()` still apply.
   */
  readonly receive?: FtpDirectReceive | undefined;
}

/** Caller-owned receive buffers (see FtpConnectOptions.receive). */
export interface FtpDirectReceive {
  /** Where the next read goes: asked before every read (node:net's `onread.buffer` as a function). */
  nextBuffer(): Uint8Array;
  /**
   * `length` new bytes are at the start of `buffer` (what `nextBuffer` returned last); a later read may overwrite
   * them, so copy what you keep before returning. Return false to pause the socket (`socket.resume()` resumes it).
   */
  onData(length: number, buffer: Uint8Array): boolean;
}

export interface FtpListenOptions {
  /** Local address to listen on (active mode: the control connection's local address; a server: its address). */
  readonly host: string;
  /** 0 or undefined: any free port. */
  readonly port?: number | undefined;
  /**
   * Connections that arrived and nobody has accepted yet are held up to this many; more are dropped. Default 4
   * (a data connection); a server's control listener asks for more.
   */
  readonly backlog?: number | undefined;
}

/**
 * A listening socket: one incoming data connection (the client's active mode, the server's passive mode) or a
 * server's control connections, accepted one `accept` at a time.
 */
export interface FtpListener {
  readonly host: string;
  readonly port: number;
  /**
   * The next incoming connection; rejects with FtpError('timeout') after `timeoutMs` (undefined: no timer, for
   * a server's accept loop, which `close()` or the signal ends) and with FtpError('connection') once closed.
   */
  accept(options: { timeoutMs: number | undefined; signal?: AbortSignal | undefined }): Promise<FtpSocket>;
  /** Stops listening and fails a pending `accept`; connections already accepted stay open. */
  close(): void;
}

/** A socket made before its address is known (FtpTransport.prepare): connected once, or discarded. */
export interface FtpPreparedSocket {
  /** Connects to `host`:`port` with the options given to `prepare`; like FtpTransport.connect. */
  connect(host: string, port: number): Promise<FtpSocket>;
  /** Drops the socket unconnected. */
  discard(): void;
}

export interface FtpTransport {
  /** Shown in messages and summaries ("kernel", "ringstack"). */
  readonly name: string;
  connect(options: FtpConnectOptions): Promise<FtpSocket>;
  /**
   * Optional: makes a socket now and connects it later, so a passive transfer builds its data socket while the
   * server answers EPSV instead of after (a node:net socket takes tens of µs to make, a small file's fetch a
   * few hundred). Without it the client calls `connect`.
   */
  prepare?(options: Omit<FtpConnectOptions, 'host' | 'port'>): FtpPreparedSocket;
  listen(options: FtpListenOptions): Promise<FtpListener>;
  /** Runs a TLS client handshake over `socket` (see startTls in tls.ts, which both transports use). */
  upgradeToTls(socket: FtpSocket, options: ConnectionOptions & { timeoutMs: number; signal?: AbortSignal | undefined }): Promise<TLSSocket>;
}
