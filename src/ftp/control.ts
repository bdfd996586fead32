// The control connection: writes command lines, parses replies, and hands each reply to whoever waits for it.
// Replies that nobody waits for are queued (bounded); a queued 421 means the server is closing the connection.

import { commandLine, describeCommand } from './command.js';
import { FtpError } from './errors.js';
import { ReplyParser, describeReply, type FtpReply, type ReplyLimits } from './reply.js';
import type { FtpSocket } from './transport.js';
import { ReusableTimer, waitFor, type Interrupt } from './wait.js';

/** At most this many unclaimed replies are kept; more means the server talks nonsense. */
const MAX_QUEUED_REPLIES = 64;

export interface ControlOptions {
  readonly replyLimits?: Partial<ReplyLimits> | undefined;
  /** Called with every command (secrets hidden) and reply, for debugging. */
  readonly log?: ((line: string) => void) | undefined;
}

export class ControlConnection {
  /** The server's address as seen when the connection was made (a TLS socket over a Duplex may not know it). */
  readonly peerAddress: string;
  readonly localAddress: string;
  private socket: FtpSocket;
  private readonly parser: ReplyParser;
  private readonly queue: FtpReply[] = [];
  /** The one reader waiting for a reply, and how to fail it. */
  private waiter: ((reply: FtpReply) => void) | undefined;
  private waiterFailed: ((error: FtpError) => void) | undefined;
  private failure: FtpError | undefined;
  private readonly log: ((line: string) => void) | undefined;
  private readonly onData = (chunk: Buffer): void => this.receive(chunk);
  private readonly onError = (error: Error): void =>
    this.fail(new FtpError('connection', `control connection error: ${error.message}`, { cause: error }));
  private readonly onClose = (): void => this.fail(new FtpError('connection', 'control connection closed by the server'));
  /** Times every reply wait: one reader at a time, so one timer (see ReusableTimer). */
  private readonly replyTimer = new ReusableTimer();

  constructor(socket: FtpSocket, options: ControlOptions = {}) {
    if (socket.remoteAddress === undefined || socket.localAddress === undefined) {
      throw new FtpError('connection', 'control socket has no addresses (not connected?)');
    }
    this.peerAddress = socket.remoteAddress;
    this.localAddress = socket.localAddress;
    this.socket = socket;
    this.parser = new ReplyParser(options.replyLimits);
    this.log = options.log;
    this.attach(socket);
  }

  /** The current socket (a TLSSocket after `upgrade`). */
  get currentSocket(): FtpSocket {
    return this.socket;
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  /** Why the connection is unusable, if it is. */
  get error(): FtpError | undefined {
    return this.failure;
  }

  /** Replies that arrived with nobody waiting for them. */
  get queuedReplies(): number {
    return this.queue.length;
  }

  /** Removes and returns the replies nobody waited for (to decide whether they signal trouble). */
  takeQueued(): FtpReply[] {
    return this.queue.splice(0);
  }

  /** Writes one command. Throws FtpError('usage') for CR/LF/NUL in `arg`, or the connection's failure. */
  send(verb: string, arg?: string): void {
    const line = commandLine(verb, arg);
    if (this.failure !== undefined) throw this.failure;
    this.log?.(`> ${describeCommand(verb, arg)}`);
    this.socket.write(line, 'utf8');
  }

  /**
   * The next reply; `timeoutMs` undefined only when something else bounds the wait (a signal or an interrupt).
   */
  nextReply(timeoutMs: number | undefined, what: string, signal?: AbortSignal, interrupt?: Interrupt): Promise<FtpReply> {
    if (interrupt?.reason !== undefined) return Promise.reject(interrupt.reason);
    const queued = this.queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.waiter !== undefined) return Promise.reject(new FtpError('protocol', 'internal: two readers on one control connection'));
    return waitFor<FtpReply>(
      (resolve, reject) => {
        this.waiter = resolve;
        this.waiterFailed = reject;
        return () => {
          this.waiter = undefined;
          this.waiterFailed = undefined;
        };
      },
      { timeoutMs, what, signal, interrupt, timer: this.replyTimer },
    );
  }

  /** Sends a command and returns its first reply. */
  request(verb: string, timeoutMs: number, arg?: string, signal?: AbortSignal, interrupt?: Interrupt): Promise<FtpReply> {
    // Not async: returning nextReply's promise from an async function would cost two more microtask turns.
    try {
      this.send(verb, arg);
    } catch (error) {
      return Promise.reject(error);
    }
    return this.nextReply(timeoutMs, `reply to ${verb}`, signal, interrupt);
  }

  /**
   * Replaces the socket by `upgrade(socket)` (AUTH TLS). Reading stops while the handshake runs, so no byte of
   * it is mistaken for a reply.
   */
  async upgrade(upgrade: (socket: FtpSocket) => Promise<FtpSocket>): Promise<void> {
    if (this.parser.pending || this.queue.length > 0) {
      throw new FtpError('protocol', 'server sent data after accepting AUTH TLS');
    }
    this.detach(this.socket);
    try {
      this.socket = await upgrade(this.socket);
    } catch (error) {
      this.fail(error instanceof FtpError ? error : new FtpError('connection', String(error), { cause: error }));
      throw error;
    }
    this.attach(this.socket);
  }

  /** Closes the connection at once. */
  destroy(reason?: FtpError): void {
    this.fail(reason ?? new FtpError('connection', 'control connection closed'));
  }

  private attach(socket: FtpSocket): void {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  private detach(socket: FtpSocket): void {
    socket.off('data', this.onData);
    socket.off('error', this.onError);
    socket.off('close', this.onClose);
  }

  private receive(chunk: Buffer): void {
    let replies: FtpReply[];
    try {
      replies = this.parser.push(chunk);
    } catch (error) {
      this.fail(error instanceof FtpError ? error : new FtpError('protocol', String(error)));
      return;
    }
    for (const reply of replies) {
      this.log?.(`< ${describeReply(reply)}`);
      if (this.waiter !== undefined) {
        this.waiter(reply);
      } else if (this.queue.length >= MAX_QUEUED_REPLIES) {
        this.fail(new FtpError('protocol', `server sent more than ${MAX_QUEUED_REPLIES} unsolicited replies`));
        return;
      } else {
        this.queue.push(reply);
      }
    }
    if (this.parser.error !== undefined) this.fail(this.parser.error);
  }

  private fail(error: FtpError): void {
    if (this.failure !== undefined) return;
    // A 421 the server sent before closing explains the close better than "closed by the server".
    const shutdown = this.queue.find((reply) => reply.code === 421);
    this.failure = shutdown !== undefined && error.message.includes('closed by the server')
      ? new FtpError('connection', `server closed the connection: ${describeReply(shutdown)}`, { code: 421 })
      : error;
    this.replyTimer.dispose();
    this.detach(this.socket);
    this.socket.on('error', () => {}); // late errors after destroy must not crash the process
    this.socket.destroy();
    this.waiterFailed?.(this.failure);
  }
}
