// A scripted FTP server for tests, over node:net on 127.0.0.1. By default it behaves like vsftpd (commands are
// processed one at a time, so commands sent during a transfer are answered after it). Any verb's handler can be
// replaced to misbehave: tests script exactly the pitfall they cover.

import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { once } from 'node:events';
import { posix } from 'node:path';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';

export interface ServerSession {
  readonly id: number;
  /** The control socket (a TLSSocket after AUTH TLS or with implicit TLS). */
  socket: Socket;
  /** PROT P: data connections are TLS too. */
  protect: boolean;
  user: string | undefined;
  loggedIn: boolean;
  type: 'A' | 'I';
  restOffset: number;
  passive: Server | undefined;
  passiveSocket: Promise<Socket> | undefined;
  active: { host: string; port: number } | undefined;
  renameFrom: string | undefined;
}

export interface CommandContext {
  readonly verb: string;
  readonly arg: string;
  readonly session: ServerSession;
  readonly server: ScriptedFtpServer;
  /** Writes `text` followed by CRLF. */
  reply(text: string): void;
  /** Writes bytes as they are. */
  raw(data: string | Buffer): void;
  /** The data connection: the accepted passive one, or a new connection to the client's EPRT/PORT address. */
  openData(): Promise<Socket>;
  /** Runs the well-behaved handler for this verb. */
  standard(): Promise<void>;
}

export type CommandHandler = (ctx: CommandContext) => Promise<void> | void;

export interface ScriptedServerOptions {
  /** Files by absolute path ("/pub/a.bin"). Directories are implied. */
  readonly files?: Record<string, Buffer>;
  /** Accepted users; anonymous is always accepted. */
  readonly users?: Record<string, string>;
  readonly features?: readonly string[];
  /** Address announced in PASV replies (default 127.0.0.1). */
  readonly pasvAddress?: string;
  /** Replaced handlers, by upper-case verb. */
  readonly handlers?: Record<string, CommandHandler>;
  /** More simultaneous sessions than this get "421 Too many connections". */
  readonly maxSessions?: number;
  /** Bytes per data write (small values make transfers slow enough to interrupt). */
  readonly chunkSize?: number;
  /** Pause between data writes, in ms. */
  readonly chunkDelayMs?: number;
  /** FTPS: AUTH TLS (explicit) or TLS from the first byte (implicit); data TLS must resume the control session. */
  readonly tls?: { key: Buffer; cert: Buffer; implicit?: boolean; requireSessionReuse?: boolean; maxVersion?: 'TLSv1.2' | 'TLSv1.3' };
}

/** Thrown by openData when the data connection was refused (the reply is already sent). */
class DataRefused extends Error {}

const DEFAULT_FEATURES = ['EPSV', 'PASV', 'SIZE', 'MDTM', 'REST STREAM', 'MLST type*;size*;modify*;', 'UTF8'];

export class ScriptedFtpServer {
  readonly files = new Map<string, Buffer>();
  /** Every command received, as "session#: VERB arg". */
  readonly log: string[] = [];
  /** Replaceable while running (tests change the pacing between runs). */
  options: ScriptedServerOptions;
  handlers: Record<string, CommandHandler>;
  private readonly server: Server;
  private readonly secureContext: SecureContext | undefined;
  private readonly sessions = new Set<ServerSession>();
  private readonly sockets = new Set<Socket>();
  private nextId = 1;
  totalSessions = 0;
  port = 0;

  private constructor(options: ScriptedServerOptions) {
    this.options = options;
    this.handlers = { ...options.handlers };
    for (const [path, content] of Object.entries(options.files ?? {})) this.files.set(path, content);
    this.secureContext = options.tls === undefined ? undefined : createSecureContext({ key: options.tls.key, cert: options.tls.cert, maxVersion: options.tls.maxVersion ?? 'TLSv1.3' });
    this.server = createServer((socket) => this.accept(socket));
  }

  static async start(options: ScriptedServerOptions = {}): Promise<ScriptedFtpServer> {
    const server = new ScriptedFtpServer(options);
    server.server.listen(0, '127.0.0.1');
    await once(server.server, 'listening');
    const address = server.server.address();
    server.port = typeof address === 'object' && address !== null ? address.port : 0;
    return server;
  }

  get url(): string {
    return `ftp://127.0.0.1:${this.port}`;
  }

  /** Commands (verbs only) seen so far. */
  verbs(): string[] {
    return this.log.map((line) => line.split(' ')[1]);
  }

  async close(): Promise<void> {
    for (const session of this.sessions) session.passive?.close();
    for (const socket of this.sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close').catch(() => undefined);
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => undefined);
  }

  private accept(socket: Socket): void {
    this.track(socket);
    this.totalSessions++;
    if (this.options.maxSessions !== undefined && this.sessions.size >= this.options.maxSessions) {
      socket.end('421 Too many connections (max per IP)\r\n');
      return;
    }
    const session: ServerSession = {
      id: this.nextId++, socket, protect: false, user: undefined, loggedIn: false, type: 'A', restOffset: 0,
      passive: undefined, passiveSocket: undefined, active: undefined, renameFrom: undefined,
    };
    this.sessions.add(session);
    socket.on('close', () => {
      this.sessions.delete(session);
      session.passive?.close();
    });
    if (this.options.tls?.implicit) session.socket = this.secure(socket);
    const greeting = this.handlers['GREETING'];
    if (greeting) void greeting(this.context(session, 'GREETING', ''));
    else session.socket.write('220 scripted FTP server ready\r\n');
    this.readCommands(session, session.socket);
  }

  private secure(socket: Socket): TLSSocket {
    const secure = new TLSSocket(socket, { isServer: true, secureContext: this.secureContext });
    this.track(secure);
    return secure;
  }

  private readCommands(session: ServerSession, socket: Socket): void {
    let buffered = '';
    let chain = Promise.resolve();
    const onData = (chunk: Buffer): void => {
      buffered += chunk.toString('utf8');
      let index: number;
      while ((index = buffered.indexOf('\r\n')) !== -1) {
        const line = buffered.slice(0, index);
        buffered = buffered.slice(index + 2);
        // One command at a time, like vsftpd: commands sent during a transfer wait until it ends.
        chain = chain
          .then(async () => {
            const upgraded = await this.dispatch(session, line);
            if (upgraded) {
              // AUTH TLS: the rest of the stream belongs to the TLS socket.
              socket.off('data', onData);
              session.socket = this.secure(socket);
              this.readCommands(session, session.socket);
            }
          })
          .catch((error: unknown) => {
            if (!(error instanceof DataRefused)) socket.destroy();
          });
      }
    };
    socket.on('data', onData);
  }

  /** Runs one command; true if it was an accepted AUTH TLS. */
  private async dispatch(session: ServerSession, line: string): Promise<boolean> {
    if (session.socket.destroyed) return false;
    const space = line.indexOf(' ');
    const verb = (space === -1 ? line : line.slice(0, space)).toUpperCase();
    const arg = space === -1 ? '' : line.slice(space + 1);
    this.log.push(`${session.id}: ${verb}${arg === '' ? '' : ` ${verb === 'PASS' ? '****' : arg}`}`);
    const ctx = this.context(session, verb, arg);
    const handler = this.handlers[verb];
    if (verb === 'AUTH' && !handler && this.secureContext !== undefined && !(session.socket instanceof TLSSocket)) {
      ctx.reply('234 Proceed with negotiation.');
      return true;
    }
    if (handler) await handler(ctx);
    else await ctx.standard();
    return false;
  }

  private context(session: ServerSession, verb: string, arg: string): CommandContext {
    const write = (data: string | Buffer): void => {
      if (!session.socket.destroyed) session.socket.write(data);
    };
    const ctx: CommandContext = {
      verb, arg, session, server: this,
      reply: (text) => write(`${text}\r\n`),
      raw: write,
      openData: () => this.openData(session),
      standard: () => this.standard(ctx),
    };
    return ctx;
  }

  resolve(arg: string): string {
    return posix.resolve('/', arg);
  }

  private async openData(session: ServerSession): Promise<Socket> {
    const socket = await this.openPlainData(session);
    if (!session.protect) return socket;
    const secure = this.secure(socket);
    await Promise.race([once(secure, 'secure'), once(secure, 'close').then(() => { throw new Error('closed'); })]).catch(() => {
      session.socket.write('522 SSL connection failed.\r\n');
      throw new DataRefused();
    });
    if (this.options.tls?.requireSessionReuse && !secure.isSessionReused()) {
      secure.destroy();
      // vsftpd's answer with require_ssl_reuse=YES.
      session.socket.write('522 SSL connection failed: session reuse required\r\n');
      throw new DataRefused();
    }
    return secure;
  }

  private async openPlainData(session: ServerSession): Promise<Socket> {
    if (session.passiveSocket !== undefined) {
      const pending = session.passiveSocket;
      session.passiveSocket = undefined;
      const socket = await pending;
      session.passive?.close();
      session.passive = undefined;
      return socket;
    }
    if (session.active !== undefined) {
      const socket = netConnect(session.active.port, session.active.host);
      this.track(socket);
      session.active = undefined;
      await once(socket, 'connect');
      return socket;
    }
    throw new Error('no data connection prepared');
  }

  private async listenPassive(session: ServerSession): Promise<number> {
    session.passive?.close();
    const server = createServer();
    session.passiveSocket = new Promise<Socket>((resolve) => {
      server.once('connection', (socket) => {
        this.track(socket);
        resolve(socket);
      });
    });
    session.passiveSocket.catch(() => undefined);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    session.passive = server;
    const address = server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Sends `content` over the data connection; resolves false if the client closed it first. */
  async sendData(socket: Socket, content: Buffer): Promise<boolean> {
    const chunkSize = this.options.chunkSize ?? 64 * 1024;
    for (let offset = 0; offset < content.length; offset += chunkSize) {
      if (socket.destroyed) return false;
      const ok = socket.write(content.subarray(offset, offset + chunkSize));
      if (!ok) {
        const [event] = await Promise.race([once(socket, 'drain').then(() => ['drain']), once(socket, 'close').then(() => ['close'])]);
        if (event === 'close') return false;
      }
      if (this.options.chunkDelayMs) await new Promise((r) => setTimeout(r, this.options.chunkDelayMs));
    }
    if (socket.destroyed) return false;
    socket.end();
    return true;
  }

  private listing(dir: string, verb: string): string {
    const prefix = dir === '/' ? '/' : `${dir}/`;
    const names = new Map<string, Buffer | undefined>();
    for (const [path, content] of this.files) {
      if (!path.startsWith(prefix)) continue;
      const rest = path.slice(prefix.length).split('/');
      names.set(rest[0], rest.length === 1 ? content : undefined);
    }
    const lines: string[] = [];
    for (const [name, content] of names) {
      if (verb === 'MLSD') lines.push(`type=${content ? 'file' : 'dir'};size=${content?.length ?? 0};modify=20240101120000; ${name}`);
      else if (verb === 'NLST') lines.push(name);
      else lines.push(`${content ? '-' : 'd'}rw-r--r--    1 0        0        ${content?.length ?? 0} Jan 01 12:00 ${name}`);
    }
    return lines.map((l) => `${l}\r\n`).join('');
  }

  private async standard(ctx: CommandContext): Promise<void> {
    const { verb, arg, session } = ctx;
    const path = this.resolve(arg);
    switch (verb) {
      case 'USER':
        session.user = arg;
        ctx.reply('331 Please specify the password.');
        return;
      case 'PASS': {
        const users = this.options.users ?? {};
        const ok = session.user === 'anonymous' || session.user === 'ftp' || users[session.user ?? ''] === arg;
        session.loggedIn = ok;
        ctx.reply(ok ? '230 Login successful.' : '530 Login incorrect.');
        return;
      }
      case 'FEAT':
        ctx.reply('211-Features:');
        for (const feature of this.options.features ?? DEFAULT_FEATURES) ctx.reply(` ${feature}`);
        ctx.reply('211 End');
        return;
      case 'PBSZ':
        ctx.reply('200 PBSZ set to 0.');
        return;
      case 'PROT':
        session.protect = arg.toUpperCase() === 'P';
        ctx.reply(`200 PROT now ${session.protect ? 'Private' : 'Clear'}.`);
        return;
      case 'OPTS':
        ctx.reply('200 Always in UTF8 mode.');
        return;
      case 'SYST':
        ctx.reply('215 UNIX Type: L8');
        return;
      case 'TYPE':
        session.type = arg.toUpperCase().startsWith('I') ? 'I' : 'A';
        ctx.reply(`200 Switching to ${session.type === 'I' ? 'Binary' : 'ASCII'} mode.`);
        return;
      case 'PWD':
        ctx.reply('257 "/" is the current directory');
        return;
      case 'CWD':
      case 'CDUP':
        ctx.reply('250 Directory successfully changed.');
        return;
      case 'NOOP':
        ctx.reply('200 NOOP ok.');
        return;
      case 'ABOR':
        ctx.reply('225 No transfer to ABOR.');
        return;
      case 'QUIT':
        ctx.reply('221 Goodbye.');
        session.socket.end();
        return;
      case 'SIZE': {
        const content = this.files.get(path);
        ctx.reply(content ? `213 ${content.length}` : '550 Could not get file size.');
        return;
      }
      case 'MDTM':
        ctx.reply(this.files.has(path) ? '213 20240101120000' : '550 Could not get file modification time.');
        return;
      case 'EPSV':
        ctx.reply(`229 Entering Extended Passive Mode (|||${await this.listenPassive(session)}|)`);
        return;
      case 'PASV': {
        const port = await this.listenPassive(session);
        const host = (this.options.pasvAddress ?? '127.0.0.1').split('.').join(',');
        ctx.reply(`227 Entering Passive Mode (${host},${port >> 8},${port & 255}).`);
        return;
      }
      case 'EPRT': {
        const [, , host, port] = arg.split(arg.charAt(0));
        session.active = { host, port: Number(port) };
        ctx.reply('200 EPRT command successful. Consider using EPSV.');
        return;
      }
      case 'PORT': {
        const n = arg.split(',').map(Number);
        session.active = { host: n.slice(0, 4).join('.'), port: n[4] * 256 + n[5] };
        ctx.reply('200 PORT command successful. Consider using PASV.');
        return;
      }
      case 'REST':
        session.restOffset = Number(arg);
        ctx.reply(`350 Restart position accepted (${arg}).`);
        return;
      case 'RETR': {
        const content = this.files.get(path);
        const offset = session.restOffset;
        session.restOffset = 0;
        if (content === undefined) {
          ctx.reply('550 Failed to open file.');
          return;
        }
        ctx.reply(`150 Opening BINARY mode data connection for ${arg} (${content.length} bytes).`);
        const data = await ctx.openData();
        const complete = await this.sendData(data, content.subarray(offset));
        ctx.reply(complete ? '226 Transfer complete.' : '426 Failure writing network stream.');
        return;
      }
      case 'LIST':
      case 'MLSD':
      case 'NLST': {
        const dir = arg === '' || arg.startsWith('-') ? '/' : path;
        ctx.reply('150 Here comes the directory listing.');
        const data = await ctx.openData();
        await this.sendData(data, Buffer.from(this.listing(dir, verb)));
        ctx.reply('226 Directory send OK.');
        return;
      }
      case 'STOR':
      case 'APPE': {
        ctx.reply('150 Ok to send data.');
        const data = await ctx.openData();
        const chunks: Buffer[] = [];
        data.on('data', (chunk: Buffer) => chunks.push(chunk));
        await once(data, 'end');
        data.end();
        const previous = verb === 'APPE' ? this.files.get(path) ?? Buffer.alloc(0) : Buffer.alloc(0);
        this.files.set(path, Buffer.concat([previous, ...chunks]));
        ctx.reply('226 Transfer complete.');
        return;
      }
      case 'DELE':
        ctx.reply(this.files.delete(path) ? '250 Delete operation successful.' : '550 Delete operation failed.');
        return;
      case 'MKD':
        ctx.reply(`257 "${path.replace(/"/g, '""')}" created`);
        return;
      case 'RMD':
        ctx.reply('250 Remove directory operation successful.');
        return;
      case 'RNFR':
        session.renameFrom = path;
        ctx.reply(this.files.has(path) ? '350 Ready for RNTO.' : '550 RNFR command failed.');
        return;
      case 'RNTO': {
        const content = session.renameFrom === undefined ? undefined : this.files.get(session.renameFrom);
        if (content === undefined || session.renameFrom === undefined) {
          ctx.reply('503 RNFR required first.');
          return;
        }
        this.files.delete(session.renameFrom);
        this.files.set(path, content);
        ctx.reply('250 Rename successful.');
        return;
      }
      default:
        ctx.reply('500 Unknown command.');
    }
  }
}
