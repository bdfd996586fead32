// Host names: a stub resolver (RFC 1035 §7, RFC 1123 §6.1.3) for A records over a ringstack stack's UDP, with TCP
// when a response comes back truncated, and `resolveHost`, which picks it or node:dns (the kernel's sockets).
//
// The exchange follows what glibc's resolver does, with the defences of RFC 5452: each try uses a fresh random ID
// and a fresh source port, and only a datagram from the server's address and port carrying our ID and our exact
// question is taken as the answer (others are ignored, so a forged or stale datagram cannot end the wait). Tries
// go round the servers `attempts` times, each with its own timeout. NXDOMAIN is final; SERVFAIL, REFUSED, a
// malformed answer, an ICMP unreachable or a timeout move on to the next server.
import { readFile } from 'node:fs/promises';
import { promises as nodeDns } from 'node:dns';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { randomInt } from 'node:crypto';
import { parseIpv4Address } from '../wire/index.js';
import { FtpError, type FtpTransport } from '../ftp/index.js';
import { abortError } from '../ftp/errors.js';
import {
  DNS_CLASS_IN, DNS_PORT, DnsFormatError, DnsRcode, DnsType, MAX_CNAME_CHAIN, answersQuery, canonicalDnsName,
  encodeDnsName, encodeDnsQuery, extractAddresses, parseDnsMessage, type DnsMessage, type DnsQuestion,
} from './dns-message.js';
import { parseResolvConf } from './resolv-conf.js';
import { errnoError, type ErrnoLikeError } from './errors.js';
import type { StackClock } from './clock.js';
import type { TcpSocket } from './tcp-socket.js';
import type { UdpSocket } from './udp-socket.js';

/** What the resolver needs of a stack (a `Stack` is one): UDP sockets, TCP connections and its clock. */
export interface DnsStack {
  readonly udp: { bind(port?: number, address?: string): UdpSocket };
  connect(options: { host: string; port: number }): TcpSocket;
  readonly clock: StackClock;
}

export interface DnsServer {
  readonly address: string;
  readonly port: number;
}

export interface DnsResolverOptions {
  /** IPv4 servers, "A.B.C.D" or "A.B.C.D:PORT" (port 53 by default). */
  readonly servers: readonly string[];
  /** Wait for each try (default 2000 ms; glibc's default is 5 s). */
  readonly timeoutMs?: number;
  /** Rounds over all servers (default 2, as glibc). */
  readonly attempts?: number;
  /** Names kept in the cache (default 256; 0 turns the cache off). */
  readonly cacheEntries?: number;
  /** Longest a cached answer lives whatever its TTL says (default 3600 s). */
  readonly maxTtlSeconds?: number;
  /** Milliseconds for cache expiry; default: the stack's clock. */
  readonly now?: () => number;
}

export interface ResolveOptions {
  readonly signal?: AbortSignal | undefined;
}

/** An error as node:dns raises them: `code` ENOTFOUND, ENODATA, ESERVFAIL, EREFUSED, ETIMEOUT, EBADRESP, ... */
export interface DnsError extends ErrnoLikeError {
  hostname: string;
}

function dnsError(code: string, hostname: string, detail?: string, cause?: unknown): DnsError {
  const err = errnoError(code, 'queryA', detail === undefined ? hostname : `${hostname} (${detail})`) as DnsError;
  err.hostname = hostname;
  if (cause !== undefined) err.cause = cause;
  return err;
}

const RCODE_ERRORS: Record<number, string> = {
  [DnsRcode.FormErr]: 'EFORMERR',
  [DnsRcode.ServFail]: 'ESERVFAIL',
  [DnsRcode.NotImp]: 'ENOTIMP',
  [DnsRcode.Refused]: 'EREFUSED',
};

/** "A.B.C.D" or "A.B.C.D:PORT" → a server; throws a TypeError (code ERR_INVALID_ARG_VALUE) on anything else. */
export function parseDnsServer(text: string): DnsServer {
  const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(text.trim());
  const port = m?.[2] === undefined ? DNS_PORT : Number(m[2]);
  if (m === null || parseIpv4Address(m[1]) < 0 || port < 1 || port > 65535) {
    throw Object.assign(new TypeError(`bad DNS server ${JSON.stringify(text)}: expected A.B.C.D or A.B.C.D:PORT`), { code: 'ERR_INVALID_ARG_VALUE' });
  }
  return { address: m[1], port };
}

/** A lookup under way, shared by every caller asking for the name; it stops when the last of them gives up. */
interface InFlight {
  readonly result: Promise<readonly string[]>;
  readonly controller: AbortController;
  waiters: number;
}

interface CacheEntry {
  readonly addresses: readonly string[];
  readonly expiresAt: number;
}

/** Closing a socket of a stack that has closed meanwhile throws; the exchange is over either way. */
function closeQuietly(close: () => void): void {
  try {
    close();
  } catch {
    // the stack is gone, and its sockets with it
  }
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('DNS lookup aborted'), { name: 'AbortError', code: 'ABORT_ERR' });
}

/** A stub resolver for A records over one stack. Keeps a small TTL cache and joins concurrent lookups of a name. */
export class DnsResolver {
  readonly servers: readonly DnsServer[];
  private readonly timeoutMs: number;
  private readonly attempts: number;
  private readonly cacheEntries: number;
  private readonly maxTtlMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, CacheEntry>();
  private readonly pending = new Map<string, InFlight>();

  constructor(private readonly stack: DnsStack, options: DnsResolverOptions) {
    this.servers = options.servers.map(parseDnsServer);
    if (this.servers.length === 0) throw new TypeError('a DNS resolver needs at least one server');
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.attempts = options.attempts ?? 2;
    this.cacheEntries = options.cacheEntries ?? 256;
    this.maxTtlMs = (options.maxTtlSeconds ?? 3600) * 1000;
    if (!(this.timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive, got ${String(options.timeoutMs)}`);
    if (!Number.isInteger(this.attempts) || this.attempts < 1) throw new RangeError(`attempts must be a positive integer, got ${String(options.attempts)}`);
    this.now = options.now ?? (() => stack.clock.now());
  }

  /**
   * The IPv4 addresses of `name`, in the server's order. Rejects with a DnsError: ENOTFOUND (NXDOMAIN), ENODATA
   * (the name exists but has no A record), ESERVFAIL/EREFUSED/EFORMERR/ENOTIMP (every server said so), ETIMEOUT,
   * ECONNREFUSED, EBADRESP (only malformed answers came); EBADNAME for a name that cannot be asked.
   */
  resolve4(name: string, options: ResolveOptions = {}): Promise<readonly string[]> {
    const key = canonicalDnsName(name);
    try {
      encodeDnsName(key);
    } catch (error) {
      return Promise.reject(error);
    }
    const cached = this.cache.get(key);
    if (cached !== undefined) {
      if (cached.expiresAt > this.now()) return Promise.resolve(cached.addresses);
      this.cache.delete(key);
    }
    // Concurrent lookups of one name (segmented downloads open several connections at once) share one query.
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(abortReason(signal));
    let flight = this.pending.get(key);
    if (flight === undefined) {
      const controller = new AbortController();
      const result = this.lookup(key, controller.signal).finally(() => this.forget(key, started));
      result.catch(() => undefined); // every waiter gets its own rejection below
      const started: InFlight = { result, controller, waiters: 0 };
      flight = started;
      this.pending.set(key, flight);
    }
    const shared = flight;
    shared.waiters++;
    return new Promise((resolve, reject) => {
      const onAbort = (): void => {
        reject(abortReason(signal as AbortSignal));
        // The last caller gone: stop the queries, so no socket or timer outlives the wait; a later caller starts anew.
        if (--shared.waiters === 0) {
          this.forget(key, shared);
          shared.controller.abort(signal?.reason);
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      shared.result.then(resolve, reject).finally(() => {
        if (signal?.aborted !== true) shared.waiters--;
        signal?.removeEventListener('abort', onAbort);
      });
    });
  }

  private forget(key: string, flight: InFlight): void {
    if (this.pending.get(key) === flight) this.pending.delete(key);
  }

  /** Forgets every cached answer. */
  clearCache(): void {
    this.cache.clear();
  }

  private async lookup(name: string, signal: AbortSignal): Promise<readonly string[]> {
    let qname = name;
    let ttl = Infinity;
    // A server that gives a CNAME without following it: ask again for the target (RFC 1034 §5.3.3), boundedly.
    for (let hop = 0; hop <= MAX_CNAME_CHAIN; hop++) {
      const message = await this.queryServers(qname, name, signal);
      if (message.header.rcode === DnsRcode.NxDomain) throw dnsError('ENOTFOUND', name);
      let answer;
      try {
        answer = extractAddresses(message, qname);
      } catch (error) {
        throw dnsError('EBADRESP', name, (error as Error).message, error);
      }
      ttl = Math.min(ttl, answer.ttl);
      if (answer.addresses.length > 0) {
        this.remember(name, answer.addresses, ttl);
        return answer.addresses;
      }
      if (answer.canonicalName === qname) throw dnsError('ENODATA', name, qname === name ? 'no A record' : `no A record for its alias ${qname}`);
      qname = answer.canonicalName;
    }
    throw dnsError('EBADRESP', name, `CNAME chain longer than ${MAX_CNAME_CHAIN}`);
  }

  private remember(name: string, addresses: readonly string[], ttlSeconds: number): void {
    if (this.cacheEntries === 0 || ttlSeconds <= 0) return;
    this.cache.delete(name);
    this.cache.set(name, { addresses, expiresAt: this.now() + Math.min(ttlSeconds * 1000, this.maxTtlMs) });
    // Map keeps insertion order: the first key is the oldest entry.
    while (this.cache.size > this.cacheEntries) this.cache.delete(this.cache.keys().next().value as string);
  }

  /** Asks the servers in turn until one gives a final answer (NOERROR or NXDOMAIN). */
  private async queryServers(qname: string, asked: string, signal: AbortSignal): Promise<DnsMessage> {
    const failures: string[] = [];
    let last: DnsError | null = null;
    for (let round = 0; round < this.attempts; round++) {
      for (const server of this.servers) {
        if (signal.aborted) throw abortReason(signal);
        let message: DnsMessage;
        try {
          message = await this.queryServer(server, qname, signal);
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          // Aborts and the stack's own failures (closed) end the lookup; network and server failures move on.
          if (signal.aborted || typeof code !== 'string') throw error;
          failures.push(`${server.address}:${server.port} ${code}${error instanceof DnsFormatError ? `: ${error.message}` : ''}`);
          last = dnsError(code, asked, undefined, error);
          continue;
        }
        const rcode = message.header.rcode;
        if (rcode === DnsRcode.NoError || rcode === DnsRcode.NxDomain) return message;
        const code = RCODE_ERRORS[rcode] ?? 'EBADRESP';
        failures.push(`${server.address}:${server.port} ${code}`);
        last = dnsError(code, asked);
      }
    }
    // The most telling failure names the code; the detail lists every try.
    throw dnsError(last?.code ?? 'ETIMEOUT', asked, failures.join(', '), last?.cause);
  }

  /** One try at one server: UDP, then TCP with the same question if the answer came back truncated. */
  private async queryServer(server: DnsServer, qname: string, signal: AbortSignal): Promise<DnsMessage> {
    const question: DnsQuestion = { name: qname, type: DnsType.A, class: DNS_CLASS_IN };
    const udpId = randomInt(0, 0x10000);
    const message = await this.exchangeUdp(server, udpId, encodeDnsQuery(udpId, qname), question, signal);
    if (!message.header.truncated) return message;
    const tcpId = randomInt(0, 0x10000);
    return this.exchangeTcp(server, tcpId, encodeDnsQuery(tcpId, qname), question, signal);
  }

  /** Sends the query from a fresh port and waits for the matching response; see the file comment. */
  private exchangeUdp(server: DnsServer, id: number, query: Uint8Array, question: DnsQuestion, signal: AbortSignal): Promise<DnsMessage> {
    const clock = this.stack.clock;
    const socket = this.stack.udp.bind(0);
    return new Promise<DnsMessage>((resolve, reject) => {
      let malformed: Error | null = null;
      let done = false;
      const finish = (error: Error | null, message?: DnsMessage): void => {
        if (done) return;
        done = true;
        clock.clearTimer(timer);
        signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('message');
        socket.removeAllListeners('error');
        socket.on('error', () => undefined); // late ICMP errors for a closed exchange are nobody's business
        closeQuietly(() => socket.close());
        if (error) reject(error);
        else resolve(message as DnsMessage);
      };
      const timer = clock.setTimer(this.timeoutMs, () => {
        finish(malformed ?? errnoError('ETIMEOUT', 'queryA', `no answer from ${server.address}:${server.port} in ${this.timeoutMs} ms`));
      });
      socket.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
        if (rinfo.address !== server.address || rinfo.port !== server.port) return;
        let message: DnsMessage;
        try {
          message = parseDnsMessage(msg);
        } catch (error) {
          // Malformed: if it carried our ID it was probably the server's answer; say so if nothing better comes.
          if (msg.length >= 2 && ((msg[0] << 8) | msg[1]) === id) malformed = error as Error;
          return;
        }
        if (answersQuery(message, id, question)) finish(null, message);
      });
      socket.on('error', (error: Error) => finish(error));
      const onAbort = (): void => finish(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
      socket.send(query, server.port, server.address);
    });
  }

  /** RFC 1035 §4.2.2 (and RFC 7766): the message behind a two-byte length, both ways, on a new connection. */
  private exchangeTcp(server: DnsServer, id: number, query: Uint8Array, question: DnsQuestion, signal: AbortSignal): Promise<DnsMessage> {
    const clock = this.stack.clock;
    const socket = this.stack.connect({ host: server.address, port: server.port });
    return new Promise<DnsMessage>((resolve, reject) => {
      const chunks: Buffer[] = [];
      let received = 0;
      let done = false;
      const where = `${server.address}:${server.port} over TCP`;
      const finish = (error: Error | null, message?: DnsMessage): void => {
        if (done) return;
        done = true;
        clock.clearTimer(timer);
        signal.removeEventListener('abort', onAbort);
        socket.removeAllListeners('data');
        socket.on('error', () => undefined);
        closeQuietly(() => socket.destroy());
        if (error) reject(error);
        else resolve(message as DnsMessage);
      };
      const timer = clock.setTimer(this.timeoutMs, () => finish(errnoError('ETIMEOUT', 'queryA', `no answer from ${where} in ${this.timeoutMs} ms`)));
      socket.on('connect', () => {
        const framed = Buffer.alloc(2 + query.length);
        framed.writeUInt16BE(query.length, 0);
        framed.set(query, 2);
        socket.write(framed);
      });
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        if (received < 2) return;
        const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
        chunks.length = 0;
        chunks.push(all);
        const length = all.readUInt16BE(0);
        // The length prefix bounds what we keep: at most 2 + 65535 bytes, whatever the server sends after it.
        if (received < 2 + length) return;
        let message: DnsMessage;
        try {
          message = parseDnsMessage(all.subarray(2, 2 + length));
        } catch (error) {
          finish(error as Error);
          return;
        }
        if (!answersQuery(message, id, question)) finish(new DnsFormatError(`the answer from ${where} is for another query (ID or question differ)`));
        else finish(null, message);
      });
      socket.on('end', () => finish(new DnsFormatError(`${where} closed after ${received} bytes, before a whole answer`)));
      socket.on('close', () => finish(new DnsFormatError(`${where} closed after ${received} bytes, before a whole answer`)));
      socket.on('error', (error: Error) => finish(error));
      const onAbort = (): void => finish(abortReason(signal));
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

// ---- resolveHost ---------------------------------------------------------------------------------------------

export interface ResolveHostOptions {
  /** Resolve over this stack's UDP (our resolver). Without it, names go through node:dns (the kernel's sockets). */
  readonly stack?: DnsStack | undefined;
  /** The DNS server, "A.B.C.D" or "A.B.C.D:PORT". Default: the nameservers of resolv.conf (our stack) or the system's resolver (node:dns). */
  readonly dns?: string | undefined;
  readonly signal?: AbortSignal | undefined;
  /** The file to take nameservers from when `dns` is not given (default /etc/resolv.conf). */
  readonly resolvConfPath?: string | undefined;
  /** Per-try timeout of our resolver (default 2000 ms, or resolv.conf's `options timeout:`). */
  readonly timeoutMs?: number | undefined;
}

// One resolver per stack and server list, so its cache lasts across calls (a segmented download connects often).
const resolvers = new WeakMap<DnsStack, Map<string, DnsResolver>>();

async function resolverFor(stack: DnsStack, options: ResolveHostOptions): Promise<DnsResolver> {
  let servers: string[];
  let timeoutMs = options.timeoutMs;
  let attempts: number | undefined;
  if (options.dns !== undefined) {
    servers = [options.dns];
  } else {
    const path = options.resolvConfPath ?? '/etc/resolv.conf';
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw Object.assign(errnoError('ENOENT', 'queryA', `cannot read ${path} for nameservers (${(error as Error).message}); pass a DNS server (--dns)`), { cause: error });
    }
    const conf = parseResolvConf(text);
    if (conf.nameservers.length === 0) {
      const skipped = conf.ignored.map((i) => `${i.text}: ${i.reason}`).join('; ');
      throw errnoError('ENONAMESERVER', 'queryA', `${path} names no IPv4 nameserver${skipped ? ` (${skipped})` : ''}; pass a DNS server (--dns)`);
    }
    servers = [...conf.nameservers];
    timeoutMs ??= conf.timeoutSeconds === undefined ? undefined : conf.timeoutSeconds * 1000;
    attempts = conf.attempts;
  }
  const key = `${servers.join(',')}|${timeoutMs ?? ''}|${attempts ?? ''}`;
  let byServers = resolvers.get(stack);
  if (byServers === undefined) resolvers.set(stack, (byServers = new Map()));
  let resolver = byServers.get(key);
  if (resolver === undefined) byServers.set(key, (resolver = new DnsResolver(stack, { servers, timeoutMs, attempts })));
  return resolver;
}

/** Unicode names become punycode (only then: WHATWG's host parser would also rewrite things like "1.2.3"). */
function asciiName(name: string): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(name)) return name;
  const ascii = domainToASCII(name);
  if (ascii === '') throw Object.assign(new TypeError(`bad host name ${JSON.stringify(name)}`), { code: 'EBADNAME' });
  return ascii;
}

/**
 * One IPv4 address for `name`. A dotted quad comes back as it is and "localhost" (RFC 6761 §6.3) is 127.0.0.1,
 * without a query. With `stack`, the question goes over that stack's UDP to `dns` or resolv.conf's nameservers;
 * without it, to node:dns (the system's resolver via getaddrinfo, or `dns` through node:dns's own client). Rejects
 * with node:dns-style errors (`code` ENOTFOUND, ETIMEOUT, ...); a malformed `dns` is a TypeError.
 */
export async function resolveHost(name: string, options: ResolveHostOptions = {}): Promise<string> {
  if (options.dns !== undefined) parseDnsServer(options.dns);
  const host = name.trim();
  if (parseIpv4Address(host) >= 0) return host;
  const lower = canonicalDnsName(host);
  if (lower === 'localhost' || lower.endsWith('.localhost')) return '127.0.0.1';
  if (options.stack === undefined) {
    if (isIP(host) !== 0) return host; // IPv6 literal: node:net connects to it itself
    if (options.dns !== undefined) {
      const resolver = new nodeDns.Resolver(options.timeoutMs === undefined ? {} : { timeout: options.timeoutMs });
      resolver.setServers([options.dns]);
      const abort = (): void => resolver.cancel();
      options.signal?.addEventListener('abort', abort, { once: true });
      try {
        return (await resolver.resolve4(asciiName(host)))[0];
      } finally {
        options.signal?.removeEventListener('abort', abort);
      }
    }
    return (await nodeDns.lookup(asciiName(host), { family: 4 })).address;
  }
  if (isIP(host) === 6) throw errnoError('EAFNOSUPPORT', 'queryA', `${host}: the stack speaks IPv4 only`);
  const resolver = await resolverFor(options.stack, options);
  return (await resolver.resolve4(asciiName(host), { signal: options.signal }))[0];
}

/**
 * An FTP transport that resolves the host of each connection first (`resolveHost` with `options`), so the FTP
 * client keeps the name (TLS checks the certificate against it) while the sockets get an address. A failed lookup
 * is an FtpError('connection') naming the host, like a refused connection.
 */
export function resolvingTransport(transport: FtpTransport, options: Omit<ResolveHostOptions, 'signal'>): FtpTransport {
  if (options.dns !== undefined) parseDnsServer(options.dns);
  const resolve = async (host: string, signal: AbortSignal | undefined): Promise<string> => {
    try {
      return await resolveHost(host, { ...options, signal });
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      throw new FtpError('connection', `cannot resolve ${host}: ${(error as Error).message}`, { cause: error });
    }
  };
  const { prepare } = transport;
  return {
    name: transport.name,
    async connect(connect) {
      return transport.connect({ ...connect, host: await resolve(connect.host, connect.signal) });
    },
    // A data socket made while the server answers EPSV: forwarded, so the overlap survives name resolution.
    ...(prepare === undefined ? {} : {
      prepare(prepareOptions) {
        const prepared = prepare.call(transport, prepareOptions);
        return {
          async connect(host: string, port: number) {
            let address: string;
            try {
              address = await resolve(host, prepareOptions.signal);
            } catch (error) {
              prepared.discard();
              throw error;
            }
            return prepared.connect(address, port);
          },
          discard: () => prepared.discard(),
        };
      },
    }),
    listen: (listen) => transport.listen(listen),
    upgradeToTls: (socket, tls) => transport.upgradeToTls(socket, tls),
  };
}
