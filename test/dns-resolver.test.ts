// The stub resolver against a scripted DNS server on another stack over the memory wire. Most tests run inline on
// the virtual clock, so a timeout costs no real time; one runs the stacks in workers on the real clock.
import { afterEach, describe, expect, it } from 'vitest';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryWire, createStack, type Stack, type StackLayout } from '../src/main/index.js';
import { DnsResolver, resolveHost, resolvingTransport, type DnsError } from '../src/main/dns.js';
import { DnsRcode } from '../src/main/dns-message.js';
import { FtpError, type FtpConnectOptions, type FtpTransport } from '../src/ftp/index.js';
import { ScriptedDnsServer, answerA, buildDnsResponse, type DnsScript } from './helpers/scripted-dns-server.js';

const CLIENT = '198.18.1.1';
const SERVER = '198.18.1.2';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function pair(layout: StackLayout = 'inline'): Promise<[Stack, Stack]> {
  const [a, b] = createMemoryWire({});
  const A = await createStack({ link: a, address: `${CLIENT}/24`, layout });
  cleanups.push(() => A.close());
  const B = await createStack({ link: b, address: `${SERVER}/24`, layout });
  cleanups.push(() => B.close());
  return [A, B];
}

async function serve(stack: Stack, port: number, script: DnsScript): Promise<ScriptedDnsServer> {
  const server = await ScriptedDnsServer.start(stack, port, script);
  cleanups.push(() => server.close());
  return server;
}

async function failure(promise: Promise<unknown>): Promise<DnsError> {
  try {
    await promise;
  } catch (error) {
    return error as DnsError;
  }
  throw new Error('expected the lookup to fail');
}

describe('DnsResolver over the memory wire', () => {
  it('answers from the server, then from its cache until the TTL runs out', async () => {
    const [A, B] = await pair();
    const server = await serve(B, 53, (q) => [answerA(q, '198.18.1.80', 60)]);
    let now = 0;
    const resolver = new DnsResolver(A, { servers: [SERVER], now: () => now });
    expect(await resolver.resolve4('ftp.test')).toEqual(['198.18.1.80']);
    expect(await resolver.resolve4('FTP.test.')).toEqual(['198.18.1.80']);
    expect(server.queries.map((q) => [q.name, q.type, q.transport])).toEqual([['ftp.test', 1, 'udp']]);
    now = 59_999;
    await resolver.resolve4('ftp.test');
    expect(server.queries).toHaveLength(1);
    now = 60_000;
    await resolver.resolve4('ftp.test');
    expect(server.queries).toHaveLength(2);
    // Fresh ID and source port for every query (RFC 5452).
    expect(server.queries[0].id === server.queries[1].id && server.queries[0].from.port === server.queries[1].from.port).toBe(false);
  });

  it('joins concurrent lookups of one name, and does not cache a TTL of 0', async () => {
    const [A, B] = await pair();
    const server = await serve(B, 53, (q) => [answerA(q, '198.18.1.81', 0)]);
    const resolver = new DnsResolver(A, { servers: [SERVER] });
    const all = await Promise.all([resolver.resolve4('a.test'), resolver.resolve4('A.TEST'), resolver.resolve4('a.test.')]);
    expect(all).toEqual([['198.18.1.81'], ['198.18.1.81'], ['198.18.1.81']]);
    expect(server.queries).toHaveLength(1);
    await resolver.resolve4('a.test');
    expect(server.queries).toHaveLength(2);
  });

  it('retries over TCP when the answer is truncated', async () => {
    const [A, B] = await pair();
    const server = await serve(B, 53, (q) => q.transport === 'udp'
      ? [buildDnsResponse({ id: q.id, question: { name: q.name }, truncated: true })]
      : [buildDnsResponse({ id: q.id, question: { name: q.name }, compress: true, answers: Array.from({ length: 40 }, (_, i) => ({ name: q.name, type: 'A' as const, data: `198.18.2.${i + 1}` })) })]);
    const resolver = new DnsResolver(A, { servers: [SERVER] });
    const addresses = await resolver.resolve4('many.test');
    expect(addresses).toHaveLength(40);
    expect(addresses[39]).toBe('198.18.2.40');
    expect(server.queries.map((q) => q.transport)).toEqual(['udp', 'tcp']);
  });

  it('follows a CNAME chain, and asks again for a target the server did not resolve', async () => {
    const [A, B] = await pair();
    const server = await serve(B, 53, (q) => {
      if (q.name === 'www.test') return [buildDnsResponse({ id: q.id, question: { name: q.name }, compress: true, answers: [{ name: 'www.test', type: 'CNAME', data: 'cdn.test' }, { name: 'cdn.test', type: 'CNAME', data: 'edge.test' }] })];
      if (q.name === 'edge.test') return [answerA(q, '198.18.1.90')];
      return [buildDnsResponse({ id: q.id, question: { name: q.name }, rcode: DnsRcode.NxDomain })];
    });
    const resolver = new DnsResolver(A, { servers: [SERVER] });
    expect(await resolver.resolve4('www.test')).toEqual(['198.18.1.90']);
    expect(server.queries.map((q) => q.name)).toEqual(['www.test', 'edge.test']);
  });

  it('says ENOTFOUND for NXDOMAIN without asking the next server, ENODATA for a name without A records', async () => {
    const [A, B] = await pair();
    const first = await serve(B, 53, (q) => [buildDnsResponse({ id: q.id, question: { name: q.name }, rcode: q.name === 'none.test' ? DnsRcode.NxDomain : 0 })]);
    const second = await serve(B, 5353, (q) => [answerA(q, '198.18.1.99')]);
    const resolver = new DnsResolver(A, { servers: [SERVER, `${SERVER}:5353`] });
    const nx = await failure(resolver.resolve4('none.test'));
    expect(nx).toMatchObject({ code: 'ENOTFOUND', hostname: 'none.test', syscall: 'queryA' });
    expect((await failure(resolver.resolve4('empty.test'))).code).toBe('ENODATA');
    expect(first.queries).toHaveLength(2);
    expect(second.queries).toHaveLength(0);
  });

  it('moves on from SERVFAIL, REFUSED and silence to the next server, and reports the last failure when all fail', async () => {
    const [A, B] = await pair();
    const servfail = await serve(B, 53, (q) => [buildDnsResponse({ id: q.id, question: { name: q.name }, rcode: DnsRcode.ServFail })]);
    const silent = await serve(B, 5300, () => []);
    const refused = await serve(B, 5301, (q) => [buildDnsResponse({ id: q.id, question: { name: q.name }, rcode: DnsRcode.Refused })]);
    const good = await serve(B, 5302, (q) => [answerA(q, '198.18.1.77')]);
    const resolver = new DnsResolver(A, { servers: [SERVER, `${SERVER}:5300`, `${SERVER}:5301`, `${SERVER}:5302`], timeoutMs: 500 });
    expect(await resolver.resolve4('x.test')).toEqual(['198.18.1.77']);
    expect([servfail, silent, refused, good].map((s) => s.queries.length)).toEqual([1, 1, 1, 1]);

    const failing = new DnsResolver(A, { servers: [SERVER, `${SERVER}:5300`], timeoutMs: 500, attempts: 3 });
    const err = await failure(failing.resolve4('y.test'));
    expect(err.code).toBe('ETIMEOUT'); // the last try was the silent one
    expect(err.message).toMatch(/^queryA ETIMEOUT y\.test \(198\.18\.1\.2:53 ESERVFAIL, 198\.18\.1\.2:5300 ETIMEOUT, .*\)$/);
    expect(servfail.queries.filter((q) => q.name === 'y.test')).toHaveLength(3);
    expect(silent.queries.filter((q) => q.name === 'y.test')).toHaveLength(3);
    const onlyServfail = new DnsResolver(A, { servers: [SERVER] });
    expect((await failure(onlyServfail.resolve4('z.test'))).code).toBe('ESERVFAIL');
  });

  it('ignores responses with a wrong ID or question, from the wrong port, or malformed, and waits for the real one', async () => {
    const [A, B] = await pair();
    const forger = B.udp.bind(5399);
    cleanups.push(() => void forger.close());
    await serve(B, 53, (q) => {
      // The real server's port, but a forger's answer from another port first.
      forger.send(answerA(q, '198.18.6.6'), q.from.port, q.from.address);
      return [
        answerA({ ...q, id: q.id ^ 1 }, '198.18.6.1'),
        answerA({ ...q, name: 'other.test' }, '198.18.6.2'),
        buildDnsResponse({ id: q.id, question: { name: q.name, type: 28 }, answers: [{ name: q.name, type: 'A', data: '198.18.6.3' }] }),
        Buffer.from([q.id >> 8, q.id & 0xff, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c]), // a pointer loop
        answerA(q, '198.18.1.55'),
      ];
    });
    const resolver = new DnsResolver(A, { servers: [SERVER] });
    expect(await resolver.resolve4('real.test')).toEqual(['198.18.1.55']);
  });

  it('fails with EBADRESP when only malformed answers with our ID came, ETIMEOUT when only lies came', async () => {
    const [A, B] = await pair();
    await serve(B, 53, (q) => [Buffer.from([q.id >> 8, q.id & 0xff, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 0xc0, 0x0c])]);
    await serve(B, 5300, (q) => [answerA({ ...q, id: (q.id + 1) & 0xffff }, '198.18.6.1')]);
    const bad = await failure(new DnsResolver(A, { servers: [SERVER], timeoutMs: 300, attempts: 1 }).resolve4('loop.test'));
    expect(bad.code).toBe('EBADRESP');
    expect(bad.message).toMatch(/EBADRESP/);
    const lies = await failure(new DnsResolver(A, { servers: [`${SERVER}:5300`], timeoutMs: 300, attempts: 1 }).resolve4('lie.test'));
    expect(lies.code).toBe('ETIMEOUT');
  });

  it('refuses a TCP answer for another query and a TCP connection closed early', async () => {
    const [A, B] = await pair();
    await serve(B, 53, (q) => q.transport === 'udp'
      ? [buildDnsResponse({ id: q.id, question: { name: q.name }, truncated: true })]
      : [answerA({ ...q, id: q.id ^ 0x8000 }, '198.18.6.1')]);
    const wrong = await failure(new DnsResolver(A, { servers: [SERVER], attempts: 1 }).resolve4('tcp.test'));
    expect(wrong.code).toBe('EBADRESP');
    expect(wrong.message).toMatch(/over TCP/);
    // Truncated over UDP, and nothing listens on TCP at this port: the connection is refused.
    const udpOnly = B.udp.bind(5310);
    cleanups.push(() => void udpOnly.close());
    udpOnly.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
      udpOnly.send(buildDnsResponse({ id: msg.readUInt16BE(0), question: { name: 'trunc.test' }, truncated: true }), rinfo.port, rinfo.address);
    });
    const refused = await failure(new DnsResolver(A, { servers: [`${SERVER}:5310`], attempts: 1 }).resolve4('trunc.test'));
    expect(refused.code).toBe('ECONNREFUSED');
  });

  it('ends a caller\'s wait when its signal aborts, and refuses names it cannot ask', async () => {
    const [A, B] = await pair();
    await serve(B, 53, () => []);
    const resolver = new DnsResolver(A, { servers: [SERVER], timeoutMs: 60_000 });
    const controller = new AbortController();
    const pending = resolver.resolve4('slow.test', { signal: controller.signal });
    controller.abort(new Error('stop'));
    expect((await failure(pending)).message).toBe('stop');
    expect((await failure(resolver.resolve4('a..b'))).code).toBe('EBADNAME');
  });

  it('keeps a shared lookup going for the callers that stay, and starts anew after all left', async () => {
    const [A, B] = await pair();
    let queries = 0;
    // Silent to the first try of each lookup, answers the retry.
    const server = await serve(B, 53, (q) => (++queries % 2 === 1 ? [] : [answerA(q, '198.18.1.44')]));
    const resolver = new DnsResolver(A, { servers: [SERVER], timeoutMs: 500 });
    const leaving = new AbortController();
    const left = resolver.resolve4('shared.test', { signal: leaving.signal });
    const stays = resolver.resolve4('shared.test');
    leaving.abort(new Error('left'));
    expect((await failure(left)).message).toBe('left');
    expect(await stays).toEqual(['198.18.1.44']);
    expect(server.queries).toHaveLength(2);
    // All callers gone: the lookup stops, and the next caller's lookup is a new one that succeeds.
    const only = new AbortController();
    const gone = resolver.resolve4('again.test', { signal: only.signal });
    only.abort(new Error('gone'));
    expect((await failure(gone)).message).toBe('gone');
    expect(await resolver.resolve4('again.test')).toEqual(['198.18.1.44']);
    expect(() => new DnsResolver(A, { servers: ['dns.example'] })).toThrow(/bad DNS server/);
  });
});

describe('resolveHost', () => {
  it('skips DNS for IPv4 literals and localhost', async () => {
    const [A, B] = await pair();
    const server = await serve(B, 53, (q) => [answerA(q, '198.18.1.2')]);
    expect(await resolveHost('198.18.1.2', { stack: A, dns: SERVER })).toBe('198.18.1.2');
    expect(await resolveHost('localhost', { stack: A, dns: SERVER })).toBe('127.0.0.1');
    expect(await resolveHost('198.18.1.2')).toBe('198.18.1.2');
    expect(server.queries).toHaveLength(0);
    await expect(resolveHost('h.test', { stack: A, dns: 'not-an-address' })).rejects.toThrow(TypeError);
  });

  it('asks --dns, else the nameservers of resolv.conf, over the stack', async () => {
    const [A, B] = await pair();
    const server = await serve(B, 53, (q) => [answerA(q, '198.18.1.20')]);
    expect(await resolveHost('ftp.test', { stack: A, dns: SERVER })).toBe('198.18.1.20');
    const dir = await mkdtemp(join(tmpdir(), 'ringstack-dns-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const conf = join(dir, 'resolv.conf');
    await writeFile(conf, `nameserver 2001:db8::53\nnameserver ${SERVER}\noptions timeout:1\n`);
    expect(await resolveHost('other.test', { stack: A, resolvConfPath: conf })).toBe('198.18.1.20');
    expect(server.queries.map((q) => q.name)).toEqual(['ftp.test', 'other.test']);
    // Unicode names are asked in punycode.
    expect(await resolveHost('bücher.test', { stack: A, dns: SERVER })).toBe('198.18.1.20');
    expect(server.queries[2].name).toBe('xn--bcher-kva.test');
    await writeFile(conf, 'nameserver ::1\n');
    await expect(resolveHost('x.test', { stack: A, resolvConfPath: conf })).rejects.toThrow(/names no IPv4 nameserver \(::1: IPv6/);
    await expect(resolveHost('x.test', { stack: A, resolvConfPath: join(dir, 'missing') })).rejects.toThrow(/cannot read .*missing.*--dns/);
  });

  it('goes through node:dns without a stack (a kernel UDP server on 127.0.0.1 as --dns)', async () => {
    const socket = createSocket('udp4');
    cleanups.push(() => new Promise<void>((resolve) => socket.close(() => resolve())));
    const names: string[] = [];
    socket.on('message', (msg, rinfo) => {
      let at = 12;
      const labels: string[] = [];
      while (msg[at] !== 0) {
        labels.push(msg.subarray(at + 1, at + 1 + msg[at]).toString('latin1'));
        at += 1 + msg[at];
      }
      names.push(labels.join('.'));
      socket.send(answerA({ id: msg.readUInt16BE(0), name: labels.join('.'), type: 1, transport: 'udp', bytes: msg, from: rinfo }, '198.18.3.3'), rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    expect(await resolveHost('kernel.test', { dns: `127.0.0.1:${socket.address().port}` })).toBe('198.18.3.3');
    expect(names).toEqual(['kernel.test']);
  });
});

describe('resolvingTransport', () => {
  it('connects to the resolved address and keeps the name out of the socket layer; lookup failures are connection errors', async () => {
    const [A, B] = await pair();
    await serve(B, 53, (q) => (q.name === 'ftp.test' ? [answerA(q, '198.18.1.2')] : [buildDnsResponse({ id: q.id, question: { name: q.name }, rcode: DnsRcode.NxDomain })]));
    const asked: FtpConnectOptions[] = [];
    const inner: FtpTransport = {
      name: 'recording',
      connect: (options) => {
        asked.push(options);
        return Promise.reject(new FtpError('connection', 'recorded'));
      },
      listen: () => Promise.reject(new Error('unused')),
      upgradeToTls: () => Promise.reject(new Error('unused')),
    };
    const transport = resolvingTransport(inner, { stack: A, dns: SERVER });
    expect(transport.name).toBe('recording');
    await expect(transport.connect({ host: 'ftp.test', port: 21, timeoutMs: 1000 })).rejects.toThrow('recorded');
    expect(asked.map((o) => [o.host, o.port])).toEqual([['198.18.1.2', 21]]);
    const err = await failure(transport.connect({ host: 'gone.test', port: 21, timeoutMs: 1000 }));
    expect(err).toBeInstanceOf(FtpError);
    expect((err as unknown as FtpError).kind).toBe('connection');
    expect(err.message).toMatch(/cannot resolve gone\.test: queryA ENOTFOUND gone\.test/);
    expect(() => resolvingTransport(inner, { stack: A, dns: '1.2.3' })).toThrow(/bad DNS server/);
    expect(transport.prepare).toBeUndefined(); // the inner transport has none: neither has the wrapper
  });

  it('forwards prepare (a data socket made before its port is known): resolved, connected or discarded', async () => {
    const [A, B] = await pair();
    await serve(B, 53, (q) => (q.name === 'data.test' ? [answerA(q, '198.18.1.7')] : [buildDnsResponse({ id: q.id, question: { name: q.name }, rcode: DnsRcode.NxDomain })]));
    const events: string[] = [];
    const inner: FtpTransport = {
      name: 'recording',
      connect: () => Promise.reject(new Error('unused')),
      prepare: () => ({
        connect: (host, port) => {
          events.push(`connect ${host}:${port}`);
          return Promise.reject(new FtpError('connection', 'recorded'));
        },
        discard: () => events.push('discard'),
      }),
      listen: () => Promise.reject(new Error('unused')),
      upgradeToTls: () => Promise.reject(new Error('unused')),
    };
    const transport = resolvingTransport(inner, { stack: A, dns: SERVER });
    await expect(transport.prepare!({ timeoutMs: 1000 }).connect('data.test', 2000)).rejects.toThrow('recorded');
    await expect(transport.prepare!({ timeoutMs: 1000 }).connect('gone.test', 2000)).rejects.toThrow(/cannot resolve gone\.test/);
    transport.prepare!({ timeoutMs: 1000 }).discard();
    expect(events).toEqual(['connect 198.18.1.7:2000', 'discard', 'discard']);
  });
});

describe('on stage workers and the real clock', () => {
  it('resolves over UDP and over TCP after truncation', async () => {
    const [A, B] = await pair('single');
    const server = await serve(B, 53, (q) => (q.name === 'big.test' && q.transport === 'udp'
      ? [buildDnsResponse({ id: q.id, question: { name: q.name }, truncated: true })]
      : [answerA(q, '198.18.1.33')]));
    const resolver = new DnsResolver(A, { servers: [SERVER] });
    expect(await resolver.resolve4('small.test')).toEqual(['198.18.1.33']);
    expect(await resolver.resolve4('big.test')).toEqual(['198.18.1.33']);
    expect(server.queries.map((q) => `${q.name}/${q.transport}`)).toEqual(['small.test/udp', 'big.test/udp', 'big.test/tcp']);
  });
});
