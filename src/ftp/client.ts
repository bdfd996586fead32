// FtpClient: one control connection and its data connections, over any FtpTransport.
// A transfer is complete only when the data stream ended AND the 2xx reply arrived, in either order (basic-ftp's
// transfer.ts rule). Every wait is bounded: connect, reply and data-idle timeouts.

import { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { describeCommand } from './command.js';
import { ControlConnection } from './control.js';
import { FtpError, abortError } from './errors.js';
import type { FtpFileInfo } from './file-info.js';
import { parseMlstReply } from './list-mlsd.js';
import { parseListing, type FtpListing, type ListingFormat } from './listing.js';
import { formatOffset, parseMdtmReply, parseSizeReply } from './numbers.js';
import {
  chooseDataHost,
  formatEprtArgument,
  type HostPort,
  formatPortArgument,
  parseEpsvReply,
  parsePasvReply,
  unmapIPv4,
} from './passive.js';
import { describeReply, isCompletion, isNegative, isPreliminary, type FtpReply, type ReplyLimits } from './reply.js';
import { DirectReceiver, RECEIVE_BUFFER_BYTES, receiveData, sendData, type ReceiveResult } from './data-pump.js';
import { TlsSessionCache } from './tls.js';
import { Interrupt, ReusableTimer } from './wait.js';
import type { FtpListener, FtpPreparedSocket, FtpSocket, FtpTransport } from './transport.js';

export type FtpSecurity = 'none' | 'explicit' | 'implicit';

export interface FtpTimeouts {
  /** TCP connect, TLS handshake, greeting, data connection set-up. */
  readonly connectMs: number;
  /** Each reply on the control connection. */
  readonly replyMs: number;
  /** Longest pause in a data stream. */
  readonly dataIdleMs: number;
}

export const DEFAULT_TIMEOUTS: FtpTimeouts = { connectMs: 15_000, replyMs: 30_000, dataIdleMs: 30_000 };

export interface FtpClientOptions {
  readonly transport: FtpTransport;
  readonly host: string;
  /** Default 21, or 990 for implicit FTPS. */
  readonly port?: number | undefined;
  readonly security?: FtpSecurity | undefined;
  /** Accept any certificate (like curl --insecure). Certificates are verified by default. */
  readonly insecure?: boolean | undefined;
  /** Trusted CA certificates in PEM (like curl --cacert), instead of the system's. */
  readonly ca?: string | Buffer | Array<string | Buffer> | undefined;
  /** Data connections: passive (EPSV, then PASV) or active (EPRT, then PORT). */
  readonly mode?: 'passive' | 'active' | undefined;
  readonly timeouts?: Partial<FtpTimeouts> | undefined;
  /** NOOP interval on the control connection while a transfer runs; 0 disables. Default 15 s. */
  readonly keepaliveMs?: number | undefined;
  readonly replyLimits?: Partial<ReplyLimits> | undefined;
  /** Largest directory listing accepted, in bytes. Default 64 MiB. */
  readonly maxListingBytes?: number | undefined;
  /** Debug log of commands (secrets hidden), replies and decisions. */
  readonly log?: ((line: string) => void) | undefined;
  /** Clock for resolving year-less LIST dates. */
  readonly clock?: (() => Date) | undefined;
  readonly signal?: AbortSignal | undefined;
}

export interface FtpCredentials {
  readonly user: string;
  readonly password: string;
  readonly account?: string | undefined;
}

export const ANONYMOUS: FtpCredentials = { user: 'anonymous', password: 'anonymous@' };

export interface TransferOptions {
  readonly signal?: AbortSignal | undefined;
  /** Called with each increment of transferred bytes. */
  readonly onProgress?: ((bytes: number) => void) | undefined;
}

export interface DownloadOptions extends TransferOptions {
  /** Start at this byte (REST). */
  readonly offset?: number | undefined;
  /**
   * Stop at this byte (exclusive); the rest of the server's stream is aborted. A function is asked again for every
   * chunk, so a running range can be shortened (segmented downloads).
   */
  readonly end?: number | (() => number) | undefined;
  /** The file's size if known (SIZE): more bytes is an error, fewer with a 2xx reply is an error. */
  readonly size?: number | undefined;
  readonly type?: 'I' | 'A' | undefined;
  /**
   * The sink copies each chunk before it returns (a PositionedWriter does): then a chunk may be a view of a
   * receive buffer that the next read overwrites, and a plain passive data connection is read without an
   * allocation per read (FtpConnectOptions.receive). Default false: every chunk is the sink's to keep.
   */
  readonly sinkCopies?: boolean | undefined;
  /**
   * With `sinkCopies`: where the next read of a plain passive data connection should land, asked before every
   * read (a PositionedWriter's `space`). The sink then gets views of what this returned and can keep the bytes in
   * place instead of copying them. Data connections read otherwise (TLS, active mode) ignore it.
   */
  readonly receiveInto?: (() => Uint8Array) | undefined;
}

export interface TransferResult {
  readonly bytes: number;
  /** The final reply, or undefined when we stopped early and aborted the rest. */
  readonly reply: FtpReply | undefined;
}

export interface UploadOptions extends TransferOptions {
  /** APPE instead of STOR. */
  readonly append?: boolean | undefined;
  readonly type?: 'I' | 'A' | undefined;
}

export interface RemoteHash {
  readonly algorithm: 'sha256' | 'sha1' | 'md5';
  readonly hex: string;
}

interface DataOutcome {
  readonly bytes: number;
  readonly stoppedEarly: boolean;
}

export class FtpClient {
  private readonly options: FtpClientOptions;
  private readonly transport: FtpTransport;
  private readonly control: ControlConnection;
  private readonly timeouts: FtpTimeouts;
  private readonly sessions = new TlsSessionCache();
  private readonly servername: string | undefined;
  private featureMap: Map<string, string> | undefined;
  private currentType: 'I' | 'A' | undefined;
  private passiveMethod: 'EPSV' | 'PASV' | undefined;
  private activeMethod: 'EPRT' | 'PORT' | undefined;
  private noopOutstanding = 0;
  private protectedData = false;
  private queueTail: Promise<unknown> = Promise.resolve();
  /** Keepalive NOOPs during a transfer, then the wait for its final reply: one timer each, reused (ReusableTimer). */
  private readonly keepaliveTimer = new ReusableTimer();
  private readonly finalReplyTimer = new ReusableTimer();
  /** A download's data idle timeout (receiveData), one transfer at a time. */
  private readonly dataIdleTimer = new ReusableTimer();
  /** The direct receive buffer of downloads whose sink copies (DownloadOptions.sinkCopies), made at first use. */
  private receiveBuffer: Uint8Array | undefined;

  private constructor(options: FtpClientOptions, control: ControlConnection) {
    this.options = options;
    this.transport = options.transport;
    this.control = control;
    this.timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    this.servername = /^[\d.]+$|:/.test(options.host) ? undefined : options.host;
  }

  /** Connects, reads the greeting and, for FTPS, secures the control connection. Does not log in. */
  static async connect(options: FtpClientOptions): Promise<FtpClient> {
    const security = options.security ?? 'none';
    const timeouts = { ...DEFAULT_TIMEOUTS, ...options.timeouts };
    const port = options.port ?? (security === 'implicit' ? 990 : 21);
    const socket = await options.transport.connect({
      host: options.host,
      port,
      timeoutMs: timeouts.connectMs,
      signal: options.signal,
    });
    const control = new ControlConnection(socket, { replyLimits: options.replyLimits, log: options.log });
    const client = new FtpClient(options, control);
    try {
      if (security === 'implicit') await client.secureControl();
      await client.readGreeting();
      if (security === 'explicit') {
        const reply = await client.control.request('AUTH', timeouts.replyMs, 'TLS', options.signal);
        if (reply.code !== 234) throw replyError('AUTH', 'TLS', reply, 'server refused TLS');
        await client.secureControl();
      }
    } catch (error) {
      control.destroy();
      throw error;
    }
    return client;
  }

  /** The control connection's peer address (the only host data connections go to). */
  get peerAddress(): string {
    return unmapIPv4(this.control.peerAddress);
  }

  get closed(): boolean {
    return this.control.closed;
  }

  /** The TLS control socket, when FTPS is in use. */
  get tlsSocket(): TLSSocket | undefined {
    const socket = this.control.currentSocket as Partial<TLSSocket>;
    return typeof socket.getProtocol === 'function' ? (socket as TLSSocket) : undefined;
  }

  /** USER/PASS/ACCT (RFC 959 §4.1.1), then PBSZ/PROT for FTPS, FEAT, and OPTS UTF8 ON when offered. */
  login(credentials: FtpCredentials = ANONYMOUS): Promise<void> {
    return this.exclusive(async () => {
      let reply = await this.command('USER', credentials.user);
      if (reply.code === 331) reply = await this.command('PASS', credentials.password);
      if (reply.code === 332) {
        if (credentials.account === undefined) throw new FtpError('reply', `login as ${credentials.user} needs an account (ACCT)`, { code: 332 });
        reply = await this.command('ACCT', credentials.account);
      }
      if (reply.code !== 230 && reply.code !== 202) {
        throw new FtpError('reply', `login failed for user ${JSON.stringify(credentials.user)}: ${describeReply(reply)}`, { code: reply.code });
      }
      if (this.tlsSocket !== undefined) {
        await this.expect('PBSZ', '0', [200]);
        await this.expect('PROT', 'P', [200]);
        this.protectedData = true;
      }
      await this.loadFeatures();
      if (this.featureMap?.has('UTF8')) await this.command('OPTS', 'UTF8 ON'); // optional: a refusal is fine
    });
  }

  /** FEAT (RFC 2389): feature name (upper case) → parameters. Empty if the server has no FEAT. */
  async features(): Promise<ReadonlyMap<string, string>> {
    if (this.featureMap === undefined) await this.exclusive(() => this.loadFeatures());
    return this.featureMap ?? new Map();
  }

  system(): Promise<string> {
    return this.exclusive(async () => (await this.expect('SYST', undefined, [215])).message);
  }

  /** PWD: the quoted path of a 257 reply, with "" unescaped (RFC 959 appendix II). */
  pwd(): Promise<string> {
    return this.exclusive(async () => {
      const reply = await this.expect('PWD', undefined, [257]);
      const m = /^"((?:[^"]|"")*)"/.exec(reply.message);
      if (m === null) throw new FtpError('protocol', `PWD reply has no quoted path: ${describeReply(reply)}`);
      return m[1].replace(/""/g, '"');
    });
  }

  cd(path: string): Promise<void> {
    return this.exclusive(async () => void (await this.expect('CWD', path, [250, 200])));
  }

  cdup(): Promise<void> {
    return this.exclusive(async () => void (await this.expect('CDUP', undefined, [250, 200])));
  }

  /** SIZE in binary mode (RFC 3659 §4). */
  size(path: string): Promise<number> {
    return this.exclusive(async () => {
      await this.setType('I');
      return parseSizeReply((await this.expect('SIZE', path, [213])).message);
    });
  }

  /** MDTM (RFC 3659 §3), UTC. */
  lastModified(path: string): Promise<Date> {
    return this.exclusive(async () => parseMdtmReply((await this.expect('MDTM', path, [213])).message));
  }

  /** MLST (RFC 3659 §7): facts about one path. */
  stat(path: string): Promise<FtpFileInfo> {
    return this.exclusive(async () => parseMlstReply((await this.expect('MLST', path, [250])).lines));
  }

  remove(path: string): Promise<void> {
    return this.exclusive(async () => void (await this.expect('DELE', path, [250, 200])));
  }

  /** MKD; returns the created path from the 257 reply when the server quotes it. */
  mkdir(path: string): Promise<string> {
    return this.exclusive(async () => {
      const reply = await this.expect('MKD', path, [257, 250]);
      const m = /^"((?:[^"]|"")*)"/.exec(reply.message);
      return m === null ? path : m[1].replace(/""/g, '"');
    });
  }

  rmdir(path: string): Promise<void> {
    return this.exclusive(async () => void (await this.expect('RMD', path, [250, 200])));
  }

  rename(from: string, to: string): Promise<void> {
    return this.exclusive(async () => {
      await this.expect('RNFR', from, [350]);
      await this.expect('RNTO', to, [250, 200]);
    });
  }

  noop(): Promise<void> {
    return this.exclusive(async () => void (await this.expect('NOOP', undefined, [200])));
  }

  /**
   * The server's hash of a file when it offers one: HASH (draft-bryan-ftpext-hash, SHA-256 preferred), else
   * XSHA256, else XMD5. Undefined if it offers none.
   */
  remoteHash(path: string): Promise<RemoteHash | undefined> {
    return this.exclusive(async () => {
      const features = this.featureMap ?? new Map<string, string>();
      const hashFeature = features.get('HASH');
      if (hashFeature !== undefined) {
        const algorithms = hashFeature.split(';').map((a) => a.trim().toUpperCase());
        const pick = ['SHA-256', 'SHA-1', 'MD5'].find((name) => algorithms.some((a) => a.replace('*', '') === name));
        if (pick !== undefined) {
          if (!algorithms.includes(`${pick}*`)) await this.expect('OPTS', `HASH ${pick}`, [200]);
          const reply = await this.expect('HASH', path, [213]);
          return hashFromReply(reply, pick === 'SHA-256' ? 'sha256' : pick === 'SHA-1' ? 'sha1' : 'md5');
        }
      }
      if (features.has('XSHA256')) return hashFromReply(await this.expect('XSHA256', path, [213, 250]), 'sha256');
      if (features.has('XMD5')) return hashFromReply(await this.expect('XMD5', path, [213, 250, 251]), 'md5');
      return undefined;
    });
  }

  /** Lists a directory: MLSD when the server has MLST, else LIST. Unusable lines come back in `rejected`. */
  list(path?: string, options: TransferOptions & { format?: ListingFormat } = {}): Promise<FtpListing> {
    return this.exclusive(async () => {
      const features = this.featureMap ?? new Map<string, string>();
      const format = options.format ?? (features.has('MLST') ? 'mlsd' : 'list');
      const verb = format === 'mlsd' ? 'MLSD' : format === 'nlst' ? 'NLST' : 'LIST';
      const limit = this.options.maxListingBytes ?? 64 * 1024 * 1024;
      const chunks: Buffer[] = [];
      let total = 0;
      await this.transfer(verb, path, 'A', 0, options.signal, (socket, signal) =>
        receiveData(socket, (chunk) => {
          total += chunk.length;
          if (total > limit) throw new FtpError('protocol', `directory listing larger than ${limit} bytes`);
          chunks.push(chunk);
        }, { overflowIsError: true, idleMs: this.timeouts.dataIdleMs, signal, onBytes: options.onProgress }),
      );
      const now = (this.options.clock ?? (() => new Date()))();
      return parseListing(Buffer.concat(chunks).toString('utf8'), format, now);
    });
  }

  /**
   * RETR into `sink`, which receives the chunks in order and may return a promise (backpressure). With `end`, the
   * transfer stops there and the rest is aborted (ABOR, then resync); with `size`, the byte count is checked.
   */
  download(
    path: string,
    sink: (chunk: Buffer) => Promise<void> | void,
    options: DownloadOptions = {},
  ): Promise<TransferResult> {
    return this.exclusive(async () => {
      const offset = options.offset ?? 0;
      const { size } = options;
      const endOption = options.end;
      const endNow = (): number | undefined => (typeof endOption === 'function' ? endOption() : endOption);
      const firstEnd = endNow();
      if (firstEnd !== undefined && (firstEnd <= offset || (size !== undefined && firstEnd > size))) {
        throw new FtpError('usage', `invalid byte range ${offset}-${firstEnd} for size ${size ?? 'unknown'}`);
      }
      // Up to the end of the file, extra bytes are the server's error; before it, they are simply not wanted.
      const toEndOfFile = (): boolean => {
        const end = endNow();
        return end === undefined || end === size;
      };
      // Not under TLS: the TLS layer reads the socket itself.
      // One receive buffer per client, not per download: 256 KiB allocated per small file was a cost of its own.
      const direct = options.sinkCopies === true && this.options.mode !== 'active' && !this.protectedData
        ? new DirectReceiver((this.receiveBuffer ??= new Uint8Array(RECEIVE_BUFFER_BYTES)), options.receiveInto)
        : undefined;
      const { outcome, reply } = await this.transfer('RETR', path, options.type ?? 'I', offset, options.signal, (socket, signal) =>
        receiveData(socket, sink, {
          direct,
          timer: this.dataIdleTimer,
          limit: () => {
            const end = endNow() ?? size;
            return end === undefined ? undefined : end - offset;
          },
          overflowIsError: toEndOfFile,
          idleMs: this.timeouts.dataIdleMs,
          signal,
          onBytes: options.onProgress,
        }),
        direct,
      );
      if (!outcome.stoppedEarly && size !== undefined && offset + outcome.bytes !== size) {
        throw new FtpError(
          'verify',
          `server ended ${path} at byte ${offset + outcome.bytes} (${reply === undefined ? 'no reply' : describeReply(reply)}) but SIZE said ${size}`,
        );
      }
      if (outcome.stoppedEarly && toEndOfFile()) {
        throw new FtpError('protocol', 'internal: transfer stopped early without a range end');
      }
      return { bytes: outcome.bytes, reply };
    });
  }

  /** STOR (or APPE) from a stream, an async iterable or a buffer. The data connection is half-closed at the end. */
  upload(
    source: Readable | AsyncIterable<Uint8Array> | Uint8Array,
    path: string,
    options: UploadOptions = {},
  ): Promise<TransferResult> {
    return this.exclusive(async () => {
      const iterable: AsyncIterable<Uint8Array> = source instanceof Uint8Array ? Readable.from([source]) : source;
      const { outcome, reply } = await this.transfer(options.append ? 'APPE' : 'STOR', path, options.type ?? 'I', 0, options.signal, async (socket, signal) => ({
        bytes: await sendData(socket, iterable, { idleMs: this.timeouts.dataIdleMs, signal, onBytes: options.onProgress }),
        stoppedEarly: false,
      }));
      return { bytes: outcome.bytes, reply };
    });
  }

  /** QUIT, waiting briefly for the reply, then closes. Never throws. */
  async close(): Promise<void> {
    if (this.control.closed) return;
    try {
      await this.exclusive(async () => {
        await this.control.request('QUIT', Math.min(this.timeouts.replyMs, 2000));
      });
    } catch {
      // The connection goes away either way.
    } finally {
      this.control.destroy();
    }
  }

  /** Drops the connection at once (no QUIT). */
  destroy(): void {
    this.control.destroy();
  }

  // ---- internals -------------------------------------------------------------------------------------------

  /** One operation at a time on a control connection; callers queue. */
  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.queueTail.then(operation, operation);
    this.queueTail = run.catch(() => undefined);
    return run;
  }

  private async readGreeting(): Promise<void> {
    let reply = await this.control.nextReply(this.timeouts.connectMs, 'server greeting', this.options.signal);
    // 120: "service ready in nnn minutes" — a 220 follows (RFC 959 §4.2).
    while (reply.code === 120) reply = await this.control.nextReply(this.timeouts.connectMs, 'server greeting', this.options.signal);
    if (reply.code !== 220) {
      throw new FtpError(reply.code === 421 ? 'connection' : 'reply', `server refused the connection: ${describeReply(reply)}`, { code: reply.code });
    }
  }

  private tlsOptions(): { host: string; rejectUnauthorized: boolean; ca?: string | Buffer | Array<string | Buffer>; servername?: string } {
    return {
      // The name the certificate is checked against (an IP is matched against IP SANs); SNI only for names.
      host: this.options.host,
      rejectUnauthorized: this.options.insecure !== true,
      ...(this.options.ca === undefined ? {} : { ca: this.options.ca }),
      ...(this.servername === undefined ? {} : { servername: this.servername }),
    };
  }

  private async secureControl(): Promise<void> {
    await this.control.upgrade(async (socket) => {
      const secure = await this.transport.upgradeToTls(socket, {
        ...this.tlsOptions(),
        timeoutMs: this.timeouts.connectMs,
        signal: this.options.signal,
      });
      this.sessions.watch(secure);
      return secure;
    });
  }

  private async loadFeatures(): Promise<void> {
    const reply = await this.command('FEAT');
    const map = new Map<string, string>();
    if (reply.code === 211) {
      for (const line of reply.lines.slice(1, -1)) {
        const text = line.trim();
        if (text === '') continue;
        const space = text.indexOf(' ');
        const name = (space === -1 ? text : text.slice(0, space)).toUpperCase();
        map.set(name, space === -1 ? '' : text.slice(space + 1));
      }
    }
    this.featureMap = map;
  }

  /**
   * Sends a command and returns its reply, whatever the code, after checking the connection is in sync.
   * `whileWaiting` runs once the command is written, before the wait for its reply.
   */
  private async command(verb: string, arg?: string, signal?: AbortSignal, whileWaiting?: () => void): Promise<FtpReply> {
    this.checkInSync();
    this.control.send(verb, arg);
    whileWaiting?.();
    const reply = await this.control.nextReply(this.timeouts.replyMs, `reply to ${verb}`, signal ?? this.options.signal);
    if (reply.code === 421) {
      this.control.destroy(new FtpError('connection', `server is closing the connection: ${describeReply(reply)}`, { code: 421 }));
      throw this.control.error;
    }
    return reply;
  }

  /** Sends a command; a reply code outside `accepted` is an FtpError('reply'). */
  private async expect(verb: string, arg: string | undefined, accepted: readonly number[]): Promise<FtpReply> {
    const reply = await this.command(verb, arg);
    if (!accepted.includes(reply.code)) throw replyError(verb, arg, reply);
    return reply;
  }

  /** Replies nobody asked for mean we lost count: a 421 is reported as such, anything else as a protocol error. */
  private checkInSync(): void {
    if (this.control.queuedReplies === 0) return;
    const stray = this.control.takeQueued();
    const shutdown = stray.find((reply) => reply.code === 421);
    const error = shutdown !== undefined
      ? new FtpError('connection', `server is closing the connection: ${describeReply(shutdown)}`, { code: 421 })
      : new FtpError('protocol', `unexpected reply from the server: ${describeReply(stray[0])}`);
    this.control.destroy(error);
    throw error;
  }

  private async setType(type: 'I' | 'A'): Promise<void> {
    if (this.currentType === type) return;
    await this.expect('TYPE', type, [200]);
    this.currentType = type;
  }

  /**
   * EPSV (remembered if it works), else PASV with the RFC 2577 address check: where to connect. `whileWaiting`
   * runs once, after the first of them is written.
   */
  private async passiveAddress(signal: AbortSignal | undefined, whileWaiting?: () => void): Promise<HostPort> {
    const peer = unmapIPv4(this.control.peerAddress);
    let host = peer;
    let port = 0;
    let pending = whileWaiting;
    const once = (): void => {
      const run = pending;
      pending = undefined;
      run?.();
    };
    if (this.passiveMethod !== 'PASV') {
      const reply = await this.command('EPSV', undefined, signal, once);
      if (reply.code === 229) {
        port = parseEpsvReply(reply.message);
        this.passiveMethod = 'EPSV';
      } else if (this.passiveMethod === undefined && reply.code >= 500) {
        this.passiveMethod = 'PASV';
      } else {
        throw replyError('EPSV', undefined, reply);
      }
    }
    if (this.passiveMethod === 'PASV') {
      const reply = await this.command('PASV', undefined, signal, once);
      if (reply.code !== 227) throw replyError('PASV', undefined, reply);
      const offered = parsePasvReply(reply.message);
      const choice = chooseDataHost(offered.host, peer);
      if (choice.replaced !== undefined) {
        this.options.log?.(`! PASV named ${offered.host} (${choice.replaced}); connecting to the control peer ${choice.host} instead`);
      }
      host = choice.host;
      port = offered.port;
    }
    return { host, port };
  }

  /** Listens on the control connection's local address and announces it with EPRT (else PORT). */
  private async openActive(signal: AbortSignal | undefined): Promise<FtpListener> {
    const local = unmapIPv4(this.control.localAddress);
    const listener = await this.transport.listen({ host: local });
    try {
      if (this.activeMethod !== 'PORT') {
        const reply = await this.command('EPRT', formatEprtArgument(local, listener.port), signal);
        if (reply.code === 200) {
          this.activeMethod = 'EPRT';
          return listener;
        }
        if (this.activeMethod !== undefined || reply.code < 500) throw replyError('EPRT', undefined, reply);
        this.activeMethod = 'PORT';
      }
      await this.expect('PORT', formatPortArgument(local, listener.port), [200]);
      return listener;
    } catch (error) {
      listener.close();
      throw error;
    }
  }

  private async acceptActive(listener: FtpListener, signal: AbortSignal | undefined): Promise<FtpSocket> {
    const socket = await listener.accept({ timeoutMs: this.timeouts.connectMs, signal });
    const from = unmapIPv4(socket.remoteAddress ?? '');
    if (from !== unmapIPv4(this.control.peerAddress)) {
      socket.destroy();
      // RFC 2577 §5 "port stealing": only the server may connect to us.
      throw new FtpError('protocol', `data connection came from ${from || 'an unknown address'}, not the server ${this.peerAddress}`);
    }
    return socket;
  }

  private async protectData(socket: FtpSocket, signal: AbortSignal | undefined): Promise<FtpSocket> {
    // RFC 4217 §10.2: resume the control connection's session, so the server knows both belong together.
    const session = await this.sessions.get(Math.min(2000, this.timeouts.connectMs), signal);
    const secure = await this.transport.upgradeToTls(socket, {
      ...this.tlsOptions(),
      ...(session === undefined ? {} : { session }),
      timeoutMs: this.timeouts.connectMs,
      signal,
    });
    this.sessions.watch(secure);
    if (!secure.isSessionReused()) this.options.log?.('! data connection did not resume the control TLS session');
    return secure;
  }

  /**
   * Runs one data transfer: data connection, REST, the command, then the data and the final reply in either
   * order. On any failure after the command was sent, the data connection is closed and the control connection
   * resynchronised (ABOR + NOOP) or dropped.
   */
  private async transfer(
    verb: string,
    arg: string | undefined,
    type: 'I' | 'A',
    offset: number,
    signal: AbortSignal | undefined,
    handle: (socket: FtpSocket, signal: AbortSignal | undefined) => Promise<DataOutcome>,
    receive?: DirectReceiver,
  ): Promise<{ outcome: DataOutcome; reply: FtpReply | undefined }> {
    if (signal?.aborted) throw abortError(signal);
    if (this.currentType !== type) await this.setType(type);
    let data: FtpSocket | undefined;
    let connecting: Promise<FtpSocket> | undefined;
    let listener: FtpListener | undefined;
    let passive: HostPort | undefined;
    let prepared: FtpPreparedSocket | undefined;
    let commandSent = false;
    let finalReceived = false;
    // Our own cancellations are Interrupts, not AbortControllers: a signal costs ~7 µs to make and
    // AbortSignal.any ~25 µs, a fifth of a small file's fetch. The caller's signal is passed through as it is.
    const replyWait = new Interrupt();
    try {
      // A download's data connection writes nothing, so it skips TCP_NODELAY (a system call per transfer).
      const socketOptions = { timeoutMs: this.timeouts.connectMs, signal, receive, noDelay: verb === 'STOR' || verb === 'APPE' };
      const connect = (to: HostPort): Promise<FtpSocket> => {
        const made = prepared;
        prepared = undefined;
        const pending = (made !== undefined ? made.connect(to.host, to.port) : this.transport.connect({ ...to, ...socketOptions }))
          .then((socket) => socket.on('error', ignoreUntilRead));
        pending.catch(() => undefined); // observed below
        return pending;
      };
      if (this.options.mode === 'active') listener = await this.openActive(signal);
      else {
        // The data socket is made while the server answers EPSV (FtpTransport.prepare), not after.
        passive = await this.passiveAddress(signal, () => (prepared = this.transport.prepare?.(socketOptions)));
      }
      // With REST, the handshake runs during its round trip.
      if (passive !== undefined && offset > 0) connecting = connect(passive);
      if (offset > 0) await this.expect('REST', formatOffset(offset), [350]);
      this.checkInSync();
      // Passive: the command goes out first and the connection is made while the server reads it (the server
      // accepts the connection when the command arrives; making the socket takes longer than the write, so the
      // server starts on the command that much earlier). A failed connect ends the wait for the reply at once.
      this.control.send(verb, arg); // throws before writing anything for a bad argument
      commandSent = true;
      // The SYN waits for the end of this synchronous run (Node connects in a nextTick): connect first.
      if (passive !== undefined && connecting === undefined) connecting = connect(passive);
      const firstWait = new Interrupt();
      const firstReply = this.control.nextReply(this.timeouts.replyMs, `reply to ${verb}`, signal, firstWait);
      let first: FtpReply;
      if (connecting === undefined) {
        first = await firstReply;
      } else {
        const connectFailed = connecting.then(() => new Promise<never>(() => undefined));
        connectFailed.catch(() => undefined);
        first = await Promise.race([firstReply, connectFailed]).catch((error: unknown) => {
          // Frees the reply reader for the resynchronisation.
          firstWait.fire(error instanceof FtpError ? error : new FtpError('connection', String(error)));
          firstReply.catch(() => undefined);
          throw error;
        });
        data = await connecting;
      }
      let finalReply: FtpReply | undefined;
      if (isNegative(first)) {
        commandSent = false; // the server refused: nothing to abort
        if (first.code === 421) this.control.destroy(new FtpError('connection', `server is closing the connection: ${describeReply(first)}`, { code: 421 }));
        throw replyError(verb, arg, first);
      }
      if (!isPreliminary(first)) finalReply = first; // a 2xx first: the data may still be in flight
      if (listener !== undefined) {
        data = await this.acceptActive(listener, signal);
        data.on('error', ignoreUntilRead);
        listener.close();
        listener = undefined;
      }
      if (data === undefined) throw new FtpError('connection', 'internal: no data connection');
      if (this.protectedData) data = await this.protectData(data, signal);
      const replyPromise = finalReply !== undefined ? Promise.resolve(finalReply) : this.awaitTransferReply(replyWait);
      replyPromise.catch(() => undefined); // observed below; never an unhandled rejection
      const failedReply = replyPromise.then((reply) => {
        finalReceived = true;
        if (isNegative(reply)) throw replyError(verb, arg, reply);
        return new Promise<never>(() => undefined); // a 2xx before the data ends: keep waiting for the data
      });
      failedReply.catch(() => undefined);
      this.startKeepalive();
      const handling = handle(data, signal);
      handling.catch(() => undefined); // if the reply fails first, the handler's own failure is secondary
      const outcome = await Promise.race([handling, failedReply]);
      this.keepaliveTimer.stop();
      if (outcome.stoppedEarly) {
        replyWait.fire(new FtpError('aborted', `${verb} stopped early`));
        await this.abortAndResync();
        return { outcome, reply: undefined };
      }
      let reply: FtpReply;
      if (finalReceived) {
        reply = await replyPromise;
      } else {
        // The data ended: the final reply must follow within replyMs.
        this.finalReplyTimer.start(this.timeouts.replyMs, () =>
          replyWait.fire(new FtpError('timeout', `no reply to ${verb} within ${this.timeouts.replyMs} ms after the data ended`)),
        );
        try {
          reply = await replyPromise;
        } finally {
          this.finalReplyTimer.stop();
        }
      }
      finalReceived = true;
      if (!isCompletion(reply)) throw replyError(verb, arg, reply);
      if (this.noopOutstanding > 0) await this.drainKeepalives();
      return { outcome, reply };
    } catch (error) {
      prepared?.discard();
      this.keepaliveTimer.stop();
      replyWait.fire(error instanceof FtpError ? error : new FtpError('connection', String(error)));
      // A connection still being made is closed once made (or fails by its own connect timeout).
      if (data === undefined) void connecting?.then((socket) => socket.destroy(), () => undefined);
      data?.destroy();
      listener?.close();
      if (commandSent && !finalReceived && !this.control.closed) await this.abortAndResync();
      else if (!this.control.closed && this.noopOutstanding > 0) await this.drainKeepalives().catch(() => undefined);
      throw error;
    } finally {
      data?.destroy();
      listener?.close();
    }
  }

  /** The transfer's final reply, skipping further 1xx and the 200s that answer keepalive NOOPs. */
  private async awaitTransferReply(interrupt: Interrupt): Promise<FtpReply> {
    for (;;) {
      const reply = await this.control.nextReply(undefined, 'transfer reply', undefined, interrupt);
      if (isPreliminary(reply)) continue;
      if (reply.code === 200 && this.noopOutstanding > 0) {
        this.noopOutstanding--;
        continue;
      }
      return reply;
    }
  }

  /** NOOP on the control connection every keepaliveMs while data flows, so idle-timeout middleboxes and servers keep it. */
  private startKeepalive(): void {
    const interval = this.options.keepaliveMs ?? 15_000;
    if (interval <= 0) return;
    const tick = (): void => {
      if (this.control.closed) return;
      this.control.send('NOOP');
      this.noopOutstanding++;
      this.keepaliveTimer.start(interval, tick);
    };
    this.keepaliveTimer.start(interval, tick);
  }

  /** Reads the replies still owed to keepalive NOOPs (servers answer them after the transfer). */
  private async drainKeepalives(): Promise<void> {
    while (this.noopOutstanding > 0) {
      const reply = await this.control.nextReply(this.timeouts.replyMs, 'reply to keepalive NOOP');
      this.noopOutstanding--;
      if (reply.code === 421) {
        this.control.destroy(new FtpError('connection', `server is closing the connection: ${describeReply(reply)}`, { code: 421 }));
        throw this.control.error;
      }
    }
  }

  /**
   * ABOR, then NOOP as a marker: every reply up to the NOOP's 200 belongs to the aborted transfer (426, 225, 226
   * in any combination, plus overshoot). If the marker does not come back in time, the connection is dropped.
   */
  private async abortAndResync(): Promise<void> {
    if (this.control.closed) return;
    try {
      this.control.send('ABOR');
      this.control.send('NOOP');
      let markers = this.noopOutstanding + 1;
      const deadline = Date.now() + this.timeouts.replyMs;
      while (markers > 0) {
        const reply = await this.control.nextReply(Math.max(1, deadline - Date.now()), 'resynchronising after ABOR');
        if (reply.code === 421) throw new FtpError('connection', `server is closing the connection: ${describeReply(reply)}`, { code: 421 });
        if (reply.code === 200) markers--;
      }
      this.noopOutstanding = 0;
    } catch (error) {
      this.control.destroy(error instanceof FtpError ? error : new FtpError('connection', 'lost the control connection after ABOR'));
    }
  }
}

/**
 * A data connection's errors between connecting and its reader taking over (the server's 150 may take a while)
 * would otherwise have no listener and crash the process; the reader still sees them (the stream is errored).
 */
function ignoreUntilRead(): void {}

function replyError(verb: string, arg: string | undefined, reply: FtpReply, what?: string): FtpError {
  const prefix = what ?? `${describeCommand(verb, arg)} failed`;
  const hint =
    reply.code === 425 ? ' (the server could not open the data connection)'
    : reply.code === 426 ? ' (the server aborted the data connection)'
    : reply.code === 421 ? ' (the server is closing the connection)'
    : '';
  return new FtpError(reply.code === 421 ? 'connection' : 'reply', `${prefix}: ${describeReply(reply)}${hint}`, { code: reply.code });
}

function hashFromReply(reply: FtpReply, algorithm: RemoteHash['algorithm']): RemoteHash {
  const length = algorithm === 'sha256' ? 64 : algorithm === 'sha1' ? 40 : 32;
  const m = new RegExp(`(?:^|\\s)([0-9a-fA-F]{${length}})(?:\\s|$)`).exec(reply.message);
  if (m === null) throw new FtpError('protocol', `no ${algorithm} hash in reply: ${describeReply(reply)}`);
  return { algorithm, hex: m[1].toLowerCase() };
}
