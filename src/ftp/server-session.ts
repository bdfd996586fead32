// One client of the FTP server: its control connection, login, working directory and data connections.
// Commands run one at a time, in order (RFC 959 §5.4); while a transfer runs, ABOR is handled at once and every
// other command waits for the transfer's reply (the client's keepalive NOOPs are answered after it, as vsftpd
// does). Every wait is bounded: idle control connection, data connection set-up, stalled data.

import { createHash, timingSafeEqual } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, stat, unlink, type FileHandle } from 'node:fs/promises';
import type { SecureContext, TLSSocket } from 'node:tls';
import { describeCommand } from './command.js';
import { receiveData, sendData } from './data-pump.js';
import { FtpError } from './errors.js';
import { parseDecimal } from './numbers.js';
import { unmapIPv4 } from './passive.js';
import { activeTargetRefusal, formatEpsvReply, formatPasvReply, parseEprtArgument, parsePortArgument } from './server-address.js';
import { AsciiDecoder, AsciiEncoder } from './server-ascii.js';
import { CommandLineReader, type CommandInput } from './server-command.js';
import { discardPlan, fileChunks, lineChunks, mapChunks, openDataConnection, type DataPlan } from './server-data.js';
import { entryOf, readEntries } from './server-directory.js';
import { formatListLine, formatMlsxEntry, formatTimeVal, mlstFeature, selectMlstFacts, type MlstFact } from './server-listing.js';
import { baseName, joinVirtual, UPLOAD_OPEN_FLAGS, type ResolvedPath, type ServedTree } from './server-paths.js';
import { formatReply, FtpReplyError, quotePath } from './server-reply.js';
import { acceptTls } from './server-tls.js';
import type { FtpSocket, FtpTransport } from './transport.js';

export interface FtpServerUser {
  readonly name: string;
  readonly password: string;
}

export interface FtpServerLimits {
  /** Sessions at once from one client address; more get "421 too many connections". */
  readonly maxSessionsPerAddress: number;
  /** Sessions at once in all. */
  readonly maxSessions: number;
  /** A control connection with no command for this long is closed (421). */
  readonly idleMs: number;
  /** Making or accepting a data connection, and each TLS handshake. */
  readonly dataConnectMs: number;
  /** Longest pause in a data stream. */
  readonly dataIdleMs: number;
  /** Longest command line, in bytes without CRLF. */
  readonly maxCommandLineBytes: number;
  /** Failed PASS attempts before the session is closed. */
  readonly maxLoginFailures: number;
  /** Largest upload (STOR/APPE) in bytes; undefined: no limit. */
  readonly maxUploadBytes: number | undefined;
  /** Entries shown by one listing at most. */
  readonly maxListingEntries: number;
  /** Bytes per positioned read of a file being sent. */
  readonly readChunkBytes: number;
}

export interface FtpServerCounters {
  /** Sessions accepted (greeted with 220). */
  sessionsAccepted: number;
  /** Sessions running now. */
  sessionsActive: number;
  /** Connections turned away with 421 (connection limits, server closing). */
  sessionsRefused: number;
  /** Data bytes sent (RETR, listings) and received (STOR, APPE). */
  bytesSent: number;
  bytesReceived: number;
  /** Data transfers that ended with 226. */
  transfersCompleted: number;
  /** Data transfers that failed or were aborted (426, 425, 451, 552). */
  transfersFailed: number;
  /** Replies 4xx/5xx to commands (refusals, bad input), login failures included. */
  errorReplies: number;
  loginFailures: number;
  /** Sessions ended by an idle timeout, a control connection error or too much bad input. */
  sessionErrors: number;
  /** Data connections refused because they came from, or were to go to, a host other than the client. */
  foreignDataConnections: number;
}

/** What every session of one server shares. */
export interface SessionContext {
  readonly transport: FtpTransport;
  readonly tree: ServedTree;
  readonly limits: FtpServerLimits;
  readonly users: ReadonlyMap<string, FtpServerUser>;
  readonly anonymous: boolean;
  readonly anonymousUpload: boolean;
  readonly tls: { readonly context: SecureContext; readonly requireSessionReuse: boolean; readonly requireForLogin: boolean } | undefined;
  readonly counters: FtpServerCounters;
  readonly greeting: string;
  readonly log: ((line: string) => void) | undefined;
  readonly now: () => Date;
}

interface Transfer {
  readonly abort: AbortController;
  /** The final reply was sent: an ABOR now is an ordinary command. */
  finished: boolean;
  aborted: boolean;
}

type Handler = (arg: string) => Promise<void> | void;

/** Commands answered before login. */
const BEFORE_LOGIN = new Set(['USER', 'PASS', 'QUIT', 'NOOP', 'FEAT', 'SYST', 'AUTH', 'PBSZ', 'PROT', 'OPTS', 'HELP']);
/** Known verbs this server does not carry out. */
const NOT_IMPLEMENTED = new Set(['ACCT', 'SMNT', 'REIN', 'MKD', 'XMKD', 'RMD', 'XRMD', 'RNFR', 'RNTO', 'SITE', 'STOU', 'CCC', 'ADAT', 'MIC', 'CONF', 'ENC', 'LANG']);
const ANONYMOUS_NAMES = new Set(['anonymous', 'ftp']);
/** Commands queued behind a running one before reading from the client pauses. */
const MAX_QUEUED = 32;
/** Bad lines in a row before the session is dropped. */
const MAX_BAD_LINES = 16;
/** How long a closing control connection may take to flush its last reply. */
const CLOSE_GRACE_MS = 2000;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

export class FtpSession {
  /** Resolves when the session has ended and everything it opened is closed. */
  readonly done: Promise<void>;
  readonly peer: string;
  private readonly local: string;
  private socket: FtpSocket;
  private readonly reader: CommandLineReader;
  private readonly queue: CommandInput[] = [];
  private pumping = false;
  private readPaused = false;
  private badLines = 0;
  private ended = false;
  private resolveDone!: () => void;
  private idleTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private readonly openData = new Set<FtpSocket>();
  private transfer: Transfer | undefined;
  private dataPlan: DataPlan | undefined;

  private user: { name: string; anonymous: boolean } | undefined;
  private pendingUser: { name: string; anonymous: boolean } | undefined;
  private loginFailures = 0;
  private cwd = '/';
  private type: 'A' | 'I' = 'A'; // RFC 959 §3.1.1.1: ASCII until the client says otherwise
  private restOffset = 0;
  private epsvAll = false;
  private secured = false;
  private protectData = false;
  private authPending = false;
  private sentAfterAuth = false;
  private mlstFacts: Set<MlstFact> = new Set(['type', 'size', 'modify', 'perm']);
  private readonly handlers: Record<string, Handler>;

  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onEnd = (): void => this.end();
  private readonly onError = (error: Error): void => {
    this.context.counters.sessionErrors++;
    this.log(`! control connection error: ${error.message}`);
    this.finish();
  };
  private readonly onClose = (): void => this.finish();

  constructor(socket: FtpSocket, private readonly context: SessionContext, readonly id: number) {
    this.socket = socket;
    this.peer = unmapIPv4(socket.remoteAddress ?? '');
    this.local = unmapIPv4(socket.localAddress ?? '');
    this.reader = new CommandLineReader(context.limits.maxCommandLineBytes);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.handlers = this.commandTable();
    this.attach(socket);
    this.reply(220, context.greeting);
    this.armIdle();
  }

  /** Ends the session now: "421 text", then the connection closes (after at most a short grace). */
  shutdown(text: string): void {
    if (this.ended) return;
    this.abortTransfer();
    this.reply(421, text);
    this.end();
  }

  // ---- control connection -----------------------------------------------------------------------------------

  private attach(socket: FtpSocket): void {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: FtpSocket): void {
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  private log(line: string): void {
    this.context.log?.(`[${this.id} ${this.peer}] ${line}`);
  }

  private reply(code: number, text: string | readonly string[]): void {
    if (code >= 400) this.context.counters.errorReplies++;
    if (this.ended || this.socket.destroyed || !this.socket.writable) return;
    this.log(`< ${code} ${typeof text === 'string' ? text : text.join(' | ')}`);
    this.socket.write(formatReply(code, text));
  }

  private receive(chunk: Buffer): void {
    if (this.authPending) {
      this.sentAfterAuth = true; // bytes after AUTH before our 234: a broken client (checked in AUTH)
      return;
    }
    const inputs = this.reader.push(chunk);
    for (const [index, input] of inputs.entries()) {
      if (input.kind === 'command' && input.verb === 'ABOR' && this.transfer !== undefined && !this.transfer.finished) {
        this.log('> ABOR');
        this.abortTransfer();
        continue;
      }
      this.queue.push(input);
      if (input.kind === 'command' && input.verb === 'AUTH') {
        // What follows AUTH TLS is the TLS handshake, not commands: stop reading until AUTH is answered.
        this.authPending = true;
        this.sentAfterAuth = index < inputs.length - 1;
        break;
      }
    }
    if ((this.queue.length >= MAX_QUEUED || this.authPending) && !this.readPaused) {
      this.readPaused = true;
      this.socket.pause();
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    this.disarmIdle();
    try {
      for (let input = this.queue.shift(); input !== undefined && !this.ended; input = this.queue.shift()) {
        await this.execute(input);
        if (this.readPaused && !this.authPending && this.queue.length < MAX_QUEUED / 2 && !this.ended) {
          this.readPaused = false;
          this.socket.resume();
        }
      }
    } finally {
      this.pumping = false;
    }
    this.armIdle();
  }

  private async execute(input: CommandInput): Promise<void> {
    if (input.kind === 'invalid') {
      this.log(`> (${input.reason})`);
      this.reply(500, `Syntax error: ${input.reason}.`);
      if (++this.badLines >= MAX_BAD_LINES) {
        this.context.counters.sessionErrors++;
        this.shutdown('Too many bad commands; closing.');
      }
      return;
    }
    const { verb, arg } = input;
    this.log(`> ${describeCommand(verb, arg === '' ? undefined : arg)}`);
    const handler = this.handlers[verb];
    if (handler === undefined) {
      this.reply(NOT_IMPLEMENTED.has(verb) ? 502 : 500, NOT_IMPLEMENTED.has(verb) ? `${verb} not implemented.` : `Unknown command ${verb}.`);
      if (!NOT_IMPLEMENTED.has(verb) && ++this.badLines >= MAX_BAD_LINES) {
        this.context.counters.sessionErrors++;
        this.shutdown('Too many bad commands; closing.');
      }
      return;
    }
    this.badLines = 0;
    if (this.user === undefined && !BEFORE_LOGIN.has(verb)) {
      this.reply(530, 'Please log in with USER and PASS.');
      return;
    }
    try {
      await handler(arg);
    } catch (error) {
      if (error instanceof FtpReplyError) {
        this.reply(error.code, error.message);
      } else {
        this.log(`! ${verb}: ${(error as Error).message}`);
        this.reply(451, `Local error: ${(error as Error).message}`);
      }
    }
  }

  private armIdle(): void {
    this.disarmIdle();
    if (this.ended || this.pumping) return;
    this.idleTimer = setTimeout(() => {
      this.context.counters.sessionErrors++;
      this.shutdown(`Timeout: no command for ${Math.round(this.context.limits.idleMs / 1000)} s; closing.`);
    }, this.context.limits.idleMs);
  }

  private disarmIdle(): void {
    if (this.idleTimer !== undefined) clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  /** Half-closes the control connection after the replies written so far; destroys it if it lingers. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.disarmIdle();
    this.abortTransfer();
    discardPlan(this.dataPlan);
    this.dataPlan = undefined;
    this.socket.end();
    this.closeTimer = setTimeout(() => this.finish(), CLOSE_GRACE_MS);
  }

  /** Everything of this session is closed; `done` resolves. */
  private finish(): void {
    this.ended = true;
    this.disarmIdle();
    if (this.closeTimer !== undefined) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    this.abortTransfer();
    discardPlan(this.dataPlan);
    this.dataPlan = undefined;
    for (const data of this.openData) data.destroy();
    this.openData.clear();
    this.detach(this.socket);
    this.socket.on('error', () => {}); // late errors after destroy must not crash the server
    this.socket.destroy();
    this.resolveDone();
  }

  private abortTransfer(): void {
    const transfer = this.transfer;
    if (transfer === undefined || transfer.finished) return;
    transfer.aborted = true;
    transfer.abort.abort(new FtpError('aborted', 'transfer aborted'));
    for (const data of this.openData) data.destroy();
  }

  // ---- commands ---------------------------------------------------------------------------------------------

  private commandTable(): Record<string, Handler> {
    const table: Record<string, Handler> = {
      USER: (arg) => this.userCommand(arg),
      PASS: (arg) => this.passCommand(arg),
      QUIT: () => {
        this.reply(221, 'Goodbye.');
        this.end();
      },
      NOOP: () => this.reply(200, 'NOOP ok.'),
      SYST: () => this.reply(215, 'UNIX Type: L8'),
      FEAT: () => this.reply(211, this.features()),
      HELP: () => this.reply(214, ['Commands:', Object.keys(this.handlers).sort().join(' '), 'Help ok.']),
      OPTS: (arg) => this.optsCommand(arg),
      AUTH: (arg) => this.authCommand(arg),
      PBSZ: (arg) => {
        if (!this.secured) throw new FtpReplyError(503, 'PBSZ needs AUTH TLS first.');
        if (!/^\d+$/.test(arg)) throw new FtpReplyError(501, 'PBSZ wants a number.');
        this.reply(200, 'PBSZ=0');
      },
      PROT: (arg) => this.protCommand(arg),
      TYPE: (arg) => this.typeCommand(arg),
      MODE: (arg) => {
        if (arg.toUpperCase() !== 'S') throw new FtpReplyError(504, 'Only stream mode (S) is supported.');
        this.reply(200, 'Mode set to S.');
      },
      STRU: (arg) => {
        if (arg.toUpperCase() !== 'F') throw new FtpReplyError(504, 'Only file structure (F) is supported.');
        this.reply(200, 'Structure set to F.');
      },
      ALLO: () => this.reply(202, 'ALLO not needed.'),
      PWD: () => this.reply(257, `${quotePath(this.cwd)} is the current directory.`),
      CWD: (arg) => this.cwdCommand(arg === '' ? '/' : arg),
      CDUP: () => this.cwdCommand('..'),
      PASV: () => this.passiveCommand(false, ''),
      EPSV: (arg) => this.passiveCommand(true, arg),
      PORT: (arg) => this.activeCommand(arg, false),
      EPRT: (arg) => this.activeCommand(arg, true),
      REST: (arg) => {
        try {
          this.restOffset = parseDecimal(arg.trim(), 'REST offset');
        } catch {
          throw new FtpReplyError(501, 'REST wants a byte offset.');
        }
        this.reply(350, `Restarting at ${this.restOffset}. Send RETR or STOR.`);
      },
      RETR: (arg) => this.retrCommand(arg),
      STOR: (arg) => this.storCommand(arg, false),
      APPE: (arg) => this.storCommand(arg, true),
      DELE: (arg) => this.deleCommand(arg),
      SIZE: (arg) => this.sizeCommand(arg),
      MDTM: (arg) => this.mdtmCommand(arg),
      MLST: (arg) => this.mlstCommand(arg),
      MLSD: (arg) => this.listCommand('MLSD', arg),
      LIST: (arg) => this.listCommand('LIST', arg),
      NLST: (arg) => this.listCommand('NLST', arg),
      ABOR: () => {
        // No transfer running (a running one is aborted as soon as ABOR arrives, see receive()).
        discardPlan(this.dataPlan);
        this.dataPlan = undefined;
        this.reply(226, 'No transfer to abort.');
      },
      STAT: () => this.reply(211, [
        'ringstack FTP server status:',
        `Connected from ${this.peer}`,
        this.user === undefined ? 'Not logged in' : `Logged in as ${this.user.anonymous ? 'anonymous' : this.user.name}`,
        `TYPE: ${this.type === 'I' ? 'BINARY' : 'ASCII'}; control connection ${this.secured ? 'TLS' : 'plain'}; data ${this.protectData ? 'TLS' : 'plain'}`,
        'End of status.',
      ]),
    };
    for (const [alias, verb] of [['XPWD', 'PWD'], ['XCWD', 'CWD'], ['XCUP', 'CDUP']] as const) table[alias] = table[verb];
    return table;
  }

  private features(): string[] {
    const lines = ['Features:'];
    if (this.context.tls !== undefined) lines.push('AUTH TLS', 'PBSZ', 'PROT');
    lines.push('EPRT', 'EPSV', 'MDTM', mlstFeature(this.mlstFacts), 'PASV', 'REST STREAM', 'SIZE', 'TVFS', 'UTF8', 'End');
    return lines;
  }

  private userCommand(arg: string): void {
    if (this.user !== undefined) throw new FtpReplyError(530, 'Already logged in.');
    if (arg === '') throw new FtpReplyError(501, 'USER wants a name.');
    if (ANONYMOUS_NAMES.has(arg.toLowerCase())) {
      if (!this.context.anonymous) throw new FtpReplyError(530, 'Anonymous logins are not allowed here.');
      this.pendingUser = { name: 'anonymous', anonymous: true };
      this.reply(331, 'Anonymous login ok, send your e-mail address as password.');
      return;
    }
    if (this.context.tls?.requireForLogin && !this.secured) throw new FtpReplyError(530, 'Use AUTH TLS before logging in.');
    this.pendingUser = { name: arg, anonymous: false };
    this.reply(331, 'Password required.');
  }

  private passCommand(arg: string): void {
    if (this.user !== undefined) throw new FtpReplyError(503, 'Already logged in.');
    const pending = this.pendingUser;
    if (pending === undefined) throw new FtpReplyError(503, 'Log in with USER first.');
    this.pendingUser = undefined;
    if (pending.anonymous) {
      this.user = pending;
      this.reply(230, 'Login successful.');
      return;
    }
    const account = this.context.users.get(pending.name);
    // Compare digests in constant time, and the same way for unknown users, so timing tells nothing.
    const expected = digest(account?.password ?? '\0unknown user');
    if (account !== undefined && timingSafeEqual(expected, digest(arg))) {
      this.user = pending;
      this.reply(230, 'Login successful.');
      return;
    }
    this.context.counters.loginFailures++;
    this.reply(530, 'Login incorrect.');
    if (++this.loginFailures >= this.context.limits.maxLoginFailures) {
      this.context.counters.sessionErrors++;
      this.shutdown('Too many failed logins; closing.');
    }
  }

  private optsCommand(arg: string): void {
    const [option, ...rest] = arg.split(' ');
    switch (option.toUpperCase()) {
      case 'UTF8':
      case 'UTF-8':
        this.reply(200, 'Always in UTF8 mode.');
        return;
      case 'MLST':
        this.mlstFacts = selectMlstFacts(rest.join(' '));
        this.reply(200, `MLST OPTS ${[...this.mlstFacts].map((fact) => `${fact};`).join('')}`);
        return;
      default:
        throw new FtpReplyError(501, `Option ${option} not understood.`);
    }
  }

  private async authCommand(arg: string): Promise<void> {
    this.authPending = false;
    const mechanism = arg.toUpperCase();
    const tls = this.context.tls;
    const refusal = tls === undefined ? new FtpReplyError(502, 'TLS is not configured on this server.')
      : this.secured ? new FtpReplyError(503, 'Already using TLS.')
      : !['TLS', 'TLS-C', 'SSL', 'TLS-P'].includes(mechanism) ? new FtpReplyError(504, `AUTH ${arg} not supported; use AUTH TLS.`)
      : undefined;
    if (refusal !== undefined || tls === undefined) {
      // Still plain text: read commands again (receive() paused at AUTH).
      this.sentAfterAuth = false;
      if (this.readPaused) {
        this.readPaused = false;
        this.socket.resume();
      }
      throw refusal;
    }
    if (this.sentAfterAuth || this.reader.buffered > 0 || this.queue.length > 0) {
      // RFC 4217 §4: the client waits for 234 before its handshake; anything sent before it is not TLS we can use.
      this.context.counters.sessionErrors++;
      this.shutdown('Data after AUTH before its reply; closing.');
      return;
    }
    this.reply(234, 'Proceed with negotiation.');
    const plain = this.socket;
    this.detach(plain);
    let secure: TLSSocket;
    try {
      secure = await acceptTls(plain, tls.context, { timeoutMs: this.context.limits.dataConnectMs });
    } catch (error) {
      this.log(`! control TLS: ${(error as Error).message}`);
      this.context.counters.sessionErrors++;
      this.attach(plain);
      this.finish();
      return;
    }
    this.socket = secure;
    this.secured = true;
    this.readPaused = false; // the TLS socket reads on its own
    if (mechanism === 'TLS-P' || mechanism === 'SSL') this.protectData = true; // RFC 4217 §12 (historic forms)
    this.attach(secure);
  }

  private protCommand(arg: string): void {
    if (!this.secured) throw new FtpReplyError(503, 'PROT needs AUTH TLS first.');
    switch (arg.toUpperCase()) {
      case 'P':
        this.protectData = true;
        this.reply(200, 'Protection level set to P.');
        return;
      case 'C':
        this.protectData = false;
        this.reply(200, 'Protection level set to C.');
        return;
      case 'S':
      case 'E':
        throw new FtpReplyError(536, `Protection level ${arg} not supported; use C or P.`);
      default:
        throw new FtpReplyError(504, `Unknown protection level ${arg}.`);
    }
  }

  private typeCommand(arg: string): void {
    const type = arg.toUpperCase().replace(/\s+/g, ' ');
    if (type === 'I' || type === 'L 8') {
      this.type = 'I';
      this.reply(200, 'Switching to binary mode.');
    } else if (type === 'A' || type === 'A N') {
      this.type = 'A';
      this.reply(200, 'Switching to ASCII mode.');
    } else {
      throw new FtpReplyError(504, `TYPE ${arg} not supported; use A or I.`);
    }
  }

  private path(arg: string): string {
    return joinVirtual(this.cwd, arg);
  }

  private async cwdCommand(arg: string): Promise<void> {
    const target = await this.context.tree.resolveExisting(this.path(arg));
    if (!(await stat(target.real)).isDirectory()) throw new FtpReplyError(550, `${target.virtual}: not a directory.`);
    this.cwd = target.virtual;
    this.reply(250, `Directory changed to ${target.virtual}.`);
  }

  private async passiveCommand(extended: boolean, arg: string): Promise<void> {
    if (extended && arg.toUpperCase() === 'ALL') {
      this.epsvAll = true; // RFC 2428 §4: from now on only EPSV
      this.reply(200, 'EPSV ALL ok.');
      return;
    }
    if (!extended && this.epsvAll) throw new FtpReplyError(501, 'Only EPSV after EPSV ALL.');
    const family = this.local.includes(':') ? '2' : '1';
    if (extended && arg !== '' && arg !== family) throw new FtpReplyError(522, `Network protocol not supported, use (${family})`);
    if (!extended && family !== '1') throw new FtpReplyError(425, 'PASV needs an IPv4 control connection; use EPSV.');
    discardPlan(this.dataPlan);
    this.dataPlan = undefined;
    let listener;
    try {
      listener = await this.context.transport.listen({ host: this.local, port: 0 });
    } catch (error) {
      throw new FtpReplyError(425, `Cannot listen for a data connection: ${(error as Error).message}`);
    }
    this.dataPlan = { kind: 'passive', listener };
    if (extended) this.reply(229, formatEpsvReply(listener.port));
    else this.reply(227, formatPasvReply(this.local, listener.port));
  }

  private activeCommand(arg: string, extended: boolean): void {
    if (this.epsvAll) throw new FtpReplyError(501, 'Only EPSV after EPSV ALL.');
    const target = extended ? parseEprtArgument(arg) : parsePortArgument(arg);
    const refusal = activeTargetRefusal(target, this.peer);
    if (refusal !== undefined) {
      this.context.counters.foreignDataConnections++;
      throw new FtpReplyError(504, `${extended ? 'EPRT' : 'PORT'} refused: ${refusal}.`);
    }
    discardPlan(this.dataPlan);
    this.dataPlan = { kind: 'active', target };
    this.reply(200, `${extended ? 'EPRT' : 'PORT'} command successful.`);
  }

  private takeRest(): number {
    const offset = this.restOffset;
    this.restOffset = 0;
    return offset;
  }

  /** An existing regular file; 550 otherwise. */
  private async existingFile(arg: string): Promise<{ path: ResolvedPath; size: number; modified: Date }> {
    if (arg === '') throw new FtpReplyError(501, 'A file name is required.');
    const path = await this.context.tree.resolveExisting(this.path(arg));
    const stats = await stat(path.real);
    if (!stats.isFile()) throw new FtpReplyError(550, `${path.virtual}: not a plain file.`);
    return { path, size: stats.size, modified: stats.mtime };
  }

  private async retrCommand(arg: string): Promise<void> {
    const offset = this.takeRest();
    const file = await this.existingFile(arg);
    if (offset > file.size) throw new FtpReplyError(554, `REST ${offset} is beyond the end of ${file.path.virtual} (${file.size} bytes).`);
    let handle: FileHandle;
    try {
      handle = await open(file.path.real, 'r');
    } catch (error) {
      throw new FtpReplyError(550, `${file.path.virtual}: cannot open: ${(error as NodeJS.ErrnoException).code ?? 'error'}.`);
    }
    try {
      const what = `${file.path.virtual} (${file.size - offset} bytes${offset > 0 ? ` from ${offset}` : ''})`;
      await this.withDataConnection(what, async (socket, signal, onBytes) => {
        let chunks: AsyncIterable<Buffer> = fileChunks(handle, offset, this.context.limits.readChunkBytes);
        if (this.type === 'A') {
          const encoder = new AsciiEncoder();
          chunks = mapChunks(chunks, (chunk) => encoder.encode(chunk));
        }
        return sendData(socket, chunks, { idleMs: this.context.limits.dataIdleMs, signal, onBytes });
      }, 'sent');
    } finally {
      await handle.close();
    }
  }

  private async storCommand(arg: string, append: boolean): Promise<void> {
    const offset = this.takeRest();
    if (arg === '') throw new FtpReplyError(501, 'A file name is required.');
    if (this.user?.anonymous && !this.context.anonymousUpload) throw new FtpReplyError(550, 'Anonymous users may not upload.');
    const target = await this.context.tree.resolveNew(this.path(arg));
    let handle: FileHandle;
    try {
      handle = await open(target.real, UPLOAD_OPEN_FLAGS | (append || offset > 0 ? 0 : constants.O_TRUNC), 0o644);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const why = code === 'ELOOP' ? 'is a symbolic link' : code === 'EISDIR' ? 'is a directory' : `cannot open (${code ?? 'error'})`;
      throw new FtpReplyError(550, `${target.virtual}: ${why}.`);
    }
    try {
      const stats = await handle.stat();
      if (!stats.isFile()) throw new FtpReplyError(550, `${target.virtual}: not a plain file.`);
      let position = append ? stats.size : offset;
      const limit = this.context.limits.maxUploadBytes;
      await this.withDataConnection(target.virtual, async (socket, signal, onBytes) => {
        const decoder = this.type === 'A' ? new AsciiDecoder() : undefined;
        const write = async (chunk: Buffer): Promise<void> => {
          let done = 0;
          while (done < chunk.length) {
            const { bytesWritten } = await handle.write(chunk, done, chunk.length - done, position);
            done += bytesWritten;
            position += bytesWritten;
          }
        };
        let result;
        try {
          result = await receiveData(socket, (chunk) => write(decoder === undefined ? chunk : decoder.decode(chunk)), {
            limit,
            overflowIsError: true,
            idleMs: this.context.limits.dataIdleMs,
            signal,
            onBytes,
          });
        } catch (error) {
          if (error instanceof FtpError && error.kind === 'protocol' && limit !== undefined) {
            throw new FtpReplyError(552, `Upload larger than ${limit} bytes; stopped.`);
          }
          throw error;
        }
        if (decoder !== undefined) await write(decoder.flush());
        return result.bytes;
      }, 'received');
    } finally {
      await handle.close();
    }
  }

  private async deleCommand(arg: string): Promise<void> {
    if (arg === '') throw new FtpReplyError(501, 'A file name is required.');
    if (this.user?.anonymous && !this.context.anonymousUpload) throw new FtpReplyError(550, 'Anonymous users may not delete.');
    // resolveNew checks the area and the directory; the entry itself (a file, or a link: never its target) goes.
    const target = await this.context.tree.resolveNew(this.path(arg));
    let stats;
    try {
      stats = await lstat(target.real);
    } catch {
      throw new FtpReplyError(550, `${target.virtual}: no such file.`);
    }
    if (stats.isDirectory()) throw new FtpReplyError(550, `${target.virtual}: is a directory.`);
    await unlink(target.real);
    this.reply(250, `${target.virtual} deleted.`);
  }

  private async sizeCommand(arg: string): Promise<void> {
    const file = await this.existingFile(arg);
    this.reply(213, String(file.size));
  }

  private async mdtmCommand(arg: string): Promise<void> {
    const file = await this.existingFile(arg);
    this.reply(213, formatTimeVal(file.modified));
  }

  private async mlstCommand(arg: string): Promise<void> {
    const path = await this.context.tree.resolveExisting(this.path(arg));
    const entry = entryOf(path.virtual, await stat(path.real), path.area === 'upload');
    this.reply(250, [`Listing ${path.virtual}`, formatMlsxEntry(entry, this.mlstFacts), 'End']);
  }

  private async listCommand(verb: 'LIST' | 'NLST' | 'MLSD', arg: string): Promise<void> {
    // "LIST -la dir": ls options are accepted and ignored (names starting with "-" cannot be listed this way).
    const target = verb === 'MLSD' ? arg : arg.replace(/^(\s*-[A-Za-z]+)+\s*/, '');
    const path = await this.context.tree.resolveExisting(this.path(target));
    const stats = await stat(path.real);
    const now = this.context.now();
    let lines: string[];
    if (stats.isDirectory()) {
      const entries = await readEntries(this.context.tree, path, this.context.limits.maxListingEntries);
      if (verb === 'MLSD') {
        lines = [formatMlsxEntry(entryOf('.', stats, path.area === 'upload'), this.mlstFacts, 'cdir')];
        lines.push(...entries.map((entry) => formatMlsxEntry(entry, this.mlstFacts)));
      } else if (verb === 'LIST') {
        lines = entries.map((entry) => formatListLine(entry, now));
      } else {
        lines = entries.map((entry) => entry.name);
      }
    } else {
      if (verb === 'MLSD') throw new FtpReplyError(501, `${path.virtual}: not a directory.`); // RFC 3659 §7.2.1
      const entry = entryOf(baseName(path.virtual), stats, path.area === 'upload');
      lines = [verb === 'LIST' ? formatListLine(entry, now) : target.trim()];
    }
    await this.withDataConnection(`${verb} ${path.virtual}`, (socket, signal, onBytes) =>
      sendData(socket, lineChunks(lines), { idleMs: this.context.limits.dataIdleMs, signal, onBytes }), 'sent');
  }

  // ---- data connections -------------------------------------------------------------------------------------

  /**
   * Runs one transfer: the data connection (from PASV/EPSV or PORT/EPRT), 150, TLS when PROT P, `work`, then
   * 226. Failures are answered 425 (no data connection), 522 (TLS), 426 (connection lost or ABOR, then 226 for
   * the ABOR), or the FtpReplyError `work` threw.
   */
  private async withDataConnection(
    what: string,
    work: (socket: FtpSocket, signal: AbortSignal, onBytes: (bytes: number) => void) => Promise<number>,
    direction: 'sent' | 'received',
  ): Promise<void> {
    const plan = this.dataPlan;
    this.dataPlan = undefined;
    if (plan === undefined) throw new FtpReplyError(425, 'Use PASV, EPSV, PORT or EPRT first.');
    const { counters, limits } = this.context;
    const transfer: Transfer = { abort: new AbortController(), finished: false, aborted: false };
    this.transfer = transfer;
    const signal = transfer.abort.signal;
    let data: FtpSocket | undefined;
    const track = (socket: FtpSocket): FtpSocket => {
      this.openData.add(socket);
      socket.on('error', () => {}); // reported through the transfer's own promise
      socket.once('close', () => this.openData.delete(socket));
      return socket;
    };
    try {
      try {
        data = track(await openDataConnection(plan, {
          transport: this.context.transport,
          controlPeer: this.peer,
          timeoutMs: limits.dataConnectMs,
          signal,
          onForeign: (address) => {
            counters.foreignDataConnections++;
            this.log(`! refused a data connection from ${address}`);
          },
        }));
      } catch (error) {
        if (transfer.aborted) throw error;
        throw new FtpReplyError(425, `Cannot open data connection: ${(error as Error).message}`);
      }
      this.reply(150, `Opening ${this.type === 'I' ? 'BINARY' : 'ASCII'} mode data connection for ${what}.`);
      if (this.protectData) {
        let secure: TLSSocket;
        try {
          secure = await acceptTls(data, (this.context.tls as NonNullable<SessionContext['tls']>).context, { timeoutMs: limits.dataConnectMs, signal });
        } catch (error) {
          if (transfer.aborted) throw error;
          throw new FtpReplyError(522, `SSL connection failed: ${(error as Error).message}`);
        }
        data = track(secure);
        if (this.context.tls?.requireSessionReuse && !secure.isSessionReused()) {
          // RFC 4217 §10.2: a data connection that does not resume the control session may belong to someone else.
          throw new FtpReplyError(522, 'SSL connection failed: session reuse required.');
        }
      }
      const bytes = await work(data, signal, (n) => {
        if (direction === 'sent') counters.bytesSent += n;
        else counters.bytesReceived += n;
      });
      transfer.finished = true;
      counters.transfersCompleted++;
      this.reply(226, `Transfer complete, ${bytes} bytes ${direction}.`);
      this.linger(data);
    } catch (error) {
      transfer.finished = true;
      counters.transfersFailed++;
      data?.destroy();
      if (transfer.aborted) {
        this.log(`! ${what}: aborted`);
        this.reply(426, 'Connection closed; transfer aborted.');
        this.reply(226, 'ABOR successful.');
        return;
      }
      if (error instanceof FtpReplyError) throw error;
      this.log(`! ${what}: ${(error as Error).message}`);
      throw new FtpReplyError(426, `Connection closed; transfer failed: ${(error as Error).message}`);
    } finally {
      discardPlan(plan);
      if (this.transfer === transfer) this.transfer = undefined;
    }
  }

  /**
   * After a completed send the client still reads what is in flight: closing our socket now could answer its
   * late bytes (a TLS close_notify) with a reset, which makes its kernel drop unread data. Wait for its close.
   */
  private linger(socket: FtpSocket): void {
    if (socket.destroyed) return;
    const timer = setTimeout(() => socket.destroy(), this.context.limits.dataIdleMs);
    socket.once('close', () => clearTimeout(timer));
    socket.resume(); // read (and drop) whatever the client still sends, so its close reaches us
  }
}

