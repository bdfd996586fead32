import { formatIpv4Address, parseIpv4Address } from '../wire/index.js';
import { AppCommand, AppEvent, appErrorName, pushAppRecord } from '../workers/app-protocol.js';
import type { AppChannelClient } from './app-channel.js';
import type { StackClock, TimerHandle } from './clock.js';
import { errnoError } from './errors.js';
import type { SocketSlotPool } from './socket-slots.js';
import { TcpServer } from './tcp-server.js';
import { TcpSocket, type TcpConnectOptions } from './tcp-socket.js';
import { UdpSocket } from './udp-socket.js';

export interface PingOptions {
  readonly count?: number;
  readonly intervalMs?: number;
  readonly timeoutMs?: number;
  /** ICMP payload bytes (default 56, as ping(8)). */
  readonly size?: number;
  /** Called as each reply arrives (the CLI prints ping(8)'s lines) or each request fails. */
  readonly onReply?: (seq: number, rttMs: number) => void;
  readonly onError?: (seq: number, error: Error) => void;
  /** Stops sending further requests (Ctrl-C); the replies so far are returned. */
  readonly signal?: AbortSignal;
}

/**
 * What an application thread holds of a stack: its app channel, its socket-buffer slots and the stack's clock, and
 * the socket calls over them (TCP like node:net, UDP like node:dgram, ping). The main thread's `Stack` is one; an
 * application worker's `AppStack` (app-thread.ts) is another, sharing the same protocol stage.
 */
export class AppEndpoint {
  readonly udp: { bind: (port?: number, address?: string) => UdpSocket };
  private nextPingId = 1;

  constructor(
    protected readonly channel: AppChannelClient,
    protected readonly pool: SocketSlotPool,
    readonly clock: StackClock,
    /** Called when time-driven work was scheduled (inline stacks: wake the scheduler). */
    private readonly kick: () => void = () => undefined,
  ) {
    this.udp = {
      bind: (port = 0, address = '0.0.0.0') => {
        this.assertOpen();
        return new UdpSocket(this.channel).bind(port, address);
      },
    };
  }

  /** Overridden by owners that can be closed. */
  protected assertOpen(): void {
    if (this.channel.closed) throw new Error('the stack is closed');
  }

  /**
   * Opens a TCP connection, like net.connect: returns the socket at once; 'connect' follows, or 'error' with
   * ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ...
   */
  connect(options: TcpConnectOptions | number, host?: string, connectListener?: () => void): TcpSocket {
    this.assertOpen();
    const o: TcpConnectOptions = typeof options === 'number' ? { port: options, host: host ?? '127.0.0.1' } : options;
    const socket = new TcpSocket({ channel: this.channel, pool: this.pool }, o.allowHalfOpen ?? false);
    socket.startConnect(o);
    const listener = typeof host === 'function' ? (host as () => void) : connectListener;
    if (listener) socket.once('connect', listener);
    return socket;
  }

  /** A TCP server on this stack, like net.createServer. */
  createServer(options?: { allowHalfOpen?: boolean } | ((socket: TcpSocket) => void), onConnection?: (socket: TcpSocket) => void): TcpServer {
    this.assertOpen();
    const o = typeof options === 'object' ? options : {};
    const handler = typeof options === 'function' ? options : onConnection;
    return new TcpServer({ channel: this.channel, pool: this.pool }, handler, o.allowHalfOpen ?? false);
  }

  /** Sends ICMP echo requests; resolves with the round-trip times (ms) of the replies that came back. */
  async ping(host: string, options: PingOptions = {}): Promise<number[]> {
    this.assertOpen();
    const dst = parseIpv4Address(host);
    if (dst < 0) throw new TypeError(`ping: bad IPv4 address ${JSON.stringify(host)}`);
    const count = options.count ?? 4;
    const intervalMs = options.intervalMs ?? 1000;
    const timeoutMs = options.timeoutMs ?? 2000;
    const size = options.size ?? 56;
    if (!Number.isInteger(count) || count < 1) throw new RangeError(`ping: count must be a positive integer, got ${String(count)}`);
    if (!Number.isInteger(size) || size < 0 || size > 65507) throw new RangeError(`ping: size must be 0..65507, got ${String(size)}`);
    const rtts: number[] = [];
    let lastError: Error | null = null;
    for (let seq = 1; seq <= count && !options.signal?.aborted; seq++) {
      const started = this.clock.now();
      try {
        const rtt = await this.echoOnce(dst, seq, size, timeoutMs);
        rtts.push(rtt);
        options.onReply?.(seq, rtt);
      } catch (err) {
        lastError = err as Error;
        options.onError?.(seq, lastError);
      }
      if (seq < count && !options.signal?.aborted) await this.sleep(Math.max(0, intervalMs - (this.clock.now() - started)));
    }
    if (rtts.length === 0) throw lastError ?? errnoError('ETIMEDOUT', 'ping', host);
    return rtts;
  }

  private echoOnce(dst: number, seq: number, size: number, timeoutMs: number): Promise<number> {
    const pingId = this.nextPingId++;
    const channel = this.channel;
    return new Promise<number>((resolve, reject) => {
      const sentAt = this.clock.now();
      let timer: TimerHandle | null = null;
      const finish = (): void => {
        channel.off(AppEvent.PingReply, pingId);
        channel.off(AppEvent.PingError, pingId);
        if (timer) this.clock.clearTimer(timer);
      };
      channel.on(AppEvent.PingReply, pingId, (r) => {
        if (r.extra !== seq) return;
        finish();
        resolve(this.clock.now() - sentAt);
      });
      channel.on(AppEvent.PingError, pingId, (r) => {
        finish();
        reject(errnoError(appErrorName(r.value), 'ping', formatIpv4Address(dst)));
      });
      timer = this.clock.setTimer(timeoutMs, () => {
        finish();
        reject(errnoError('ETIMEDOUT', 'ping', formatIpv4Address(dst)));
      });
      channel.send((ring) => pushAppRecord(ring, AppCommand.Ping, pingId, dst, 0, seq, size));
    });
  }

  private sleep(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.clock.setTimer(ms, resolve);
      this.kick();
    });
  }
}
