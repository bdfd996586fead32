import { describe, expect, it } from 'vitest';
import {
  DnsFormatError, DnsNameError, DnsRcode, answersQuery, encodeDnsName, encodeDnsQuery, extractAddresses, parseDnsMessage,
  readDnsName, type DnsQuestion,
} from '../src/main/dns-message.js';
import { parseResolvConf } from '../src/main/resolv-conf.js';
import { buildDnsResponse } from './helpers/scripted-dns-server.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ascii = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

// A response as a recursive server sends it: example.com A 93.184.216.34, TTL 3600, owner compressed to the question.
const EXAMPLE_COM = hex(`
  1234 8180 0001 0001 0000 0000
  07${ascii('example')} 03${ascii('com')} 00 0001 0001
  c00c 0001 0001 00000e10 0004 5db8d822`);

// www.example.com CNAME example.com (target compressed into the question's name), then example.com A.
const WWW_CNAME = hex(`
  abcd 8180 0001 0002 0000 0000
  03${ascii('www')} 07${ascii('example')} 03${ascii('com')} 00 0001 0001
  c00c 0005 0001 00000258 0002 c010
  c010 0001 0001 0000003c 0004 c6120007`);

function formatError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DnsFormatError);
    expect((error as DnsFormatError).code).toBe('EBADRESP');
    return (error as Error).message;
  }
  throw new Error('expected a DnsFormatError');
}

const q = (name: string): DnsQuestion => ({ name, type: 1, class: 1 });

describe('encodeDnsQuery', () => {
  it('writes header, RD and one question (RFC 1035 §4.1)', () => {
    expect(Buffer.from(encodeDnsQuery(0xbeef, 'ftp.Example.')).toString('hex')).toBe(
      `beef 0100 0001 0000 0000 0000 03${ascii('ftp')} 07${ascii('Example')} 00 0001 0001`.replace(/\s+/g, ''),
    );
  });
  it('refuses names that cannot be asked', () => {
    for (const bad of ['', '.', 'a..b', '.a', `${'x'.repeat(64)}.com`, 'bücher.de', 'a b.com', `${'abcdefghi.'.repeat(26)}com`]) {
      expect(() => encodeDnsName(bad), bad).toThrow(DnsNameError);
    }
    expect(encodeDnsName(`${'x'.repeat(63)}.com`)).toHaveLength(63 + 1 + 3 + 1 + 1);
    // 253 characters of name: the 255-octet limit exactly.
    const longest = `${'abcdefghi.'.repeat(25)}abc`;
    expect(encodeDnsName(longest)).toHaveLength(255);
    expect(() => encodeDnsQuery(70000, 'a')).toThrow(RangeError);
  });
});

describe('parseDnsMessage', () => {
  it('reads a plain answer with a compressed owner name', () => {
    const m = parseDnsMessage(EXAMPLE_COM);
    expect(m.header).toMatchObject({ id: 0x1234, isResponse: true, rcode: 0, truncated: false, recursionAvailable: true, answerCount: 1 });
    expect(m.questions).toEqual([q('example.com')]);
    expect(m.answers).toEqual([{ name: 'example.com', type: 1, class: 1, ttl: 3600, data: '93.184.216.34' }]);
    expect(answersQuery(m, 0x1234, q('EXAMPLE.com.'))).toBe(true);
    expect(extractAddresses(m, 'example.com')).toEqual({ addresses: ['93.184.216.34'], canonicalName: 'example.com', ttl: 3600 });
  });

  it('follows a CNAME chain and keeps the smallest TTL', () => {
    const m = parseDnsMessage(WWW_CNAME);
    expect(m.answers.map((r) => [r.name, r.type, r.data])).toEqual([['www.example.com', 5, 'example.com'], ['example.com', 1, '198.18.0.7']]);
    expect(extractAddresses(m, 'WWW.example.com')).toEqual({ addresses: ['198.18.0.7'], canonicalName: 'example.com', ttl: 60 });
  });

  it('ignores records for names it did not ask about, and reports an unfollowed CNAME', () => {
    const m = parseDnsMessage(buildDnsResponse({
      id: 1, question: { name: 'a.test' }, compress: true,
      answers: [
        { name: 'evil.test', type: 'A', data: '198.18.9.9' },
        { name: 'a.test', type: 'CNAME', data: 'b.test', ttl: 30 },
        { name: 'c.test', type: 'A', data: '198.18.9.8' },
      ],
    }));
    expect(extractAddresses(m, 'a.test')).toEqual({ addresses: [], canonicalName: 'b.test', ttl: 30 });
  });

  it('turns CNAME loops and overlong chains into errors', () => {
    const loop = parseDnsMessage(buildDnsResponse({
      id: 1, question: { name: 'a.test' },
      answers: [{ name: 'a.test', type: 'CNAME', data: 'b.test' }, { name: 'b.test', type: 'CNAME', data: 'a.test' }],
    }));
    expect(formatError(() => extractAddresses(loop, 'a.test'))).toMatch(/CNAME loop/);
    const chain = Array.from({ length: 10 }, (_, i) => ({ name: `n${i}.test`, type: 'CNAME' as const, data: `n${i + 1}.test` }));
    const long = parseDnsMessage(buildDnsResponse({ id: 1, question: { name: 'n0.test' }, answers: [...chain, { name: 'n10.test', type: 'A', data: '198.18.0.1' }] }));
    expect(formatError(() => extractAddresses(long, 'n0.test'))).toMatch(/longer than 8/);
  });

  it('treats a TTL with the top bit set as 0 (RFC 2181 §8) and drops duplicate addresses', () => {
    const m = parseDnsMessage(buildDnsResponse({
      id: 1, question: { name: 'a.test' },
      answers: [{ name: 'a.test', type: 'A', data: '198.18.0.1', ttl: 0x80000000 }, { name: 'a.test', type: 'A', data: '198.18.0.1', ttl: 5 }],
    }));
    expect(m.answers[0].ttl).toBe(0);
    expect(extractAddresses(m, 'a.test')).toEqual({ addresses: ['198.18.0.1'], canonicalName: 'a.test', ttl: 0 });
  });

  it('reads only header and question of a truncated response', () => {
    const full = Buffer.from(EXAMPLE_COM);
    full[2] |= 0x02; // TC
    const cut = full.subarray(0, full.length - 7); // the record ends mid-way, as a server may cut it
    const m = parseDnsMessage(cut);
    expect(m.header.truncated).toBe(true);
    expect(m.answers).toEqual([]);
    expect(m.questions).toEqual([q('example.com')]);
  });

  it('matches ID, QR, opcode and the whole question', () => {
    const m = parseDnsMessage(EXAMPLE_COM);
    expect(answersQuery(m, 0x1235, q('example.com'))).toBe(false);
    expect(answersQuery(m, 0x1234, q('example.org'))).toBe(false);
    expect(answersQuery(m, 0x1234, { name: 'example.com', type: 28, class: 1 })).toBe(false);
    const query = parseDnsMessage(encodeDnsQuery(0x1234, 'example.com'));
    expect(answersQuery(query, 0x1234, q('example.com'))).toBe(false); // QR clear: not a response
    expect(parseDnsMessage(hex('1234 8583 0001 0000 0000 0000 01 61 00 0001 0001')).header).toMatchObject({ rcode: DnsRcode.NxDomain, authoritative: true });
  });

  it('escapes label bytes that would change how a name reads', () => {
    const b = hex(`0000 00 03 612e62 01 63 00`);
    expect(readDnsName(b, 3)).toEqual({ name: 'a\\046b.c', next: 10 });
  });
});

describe('malicious responses', () => {
  it('refuse pointers that do not point backwards (loops)', () => {
    // The answer's owner is a pointer to itself, then to the answer, then a pair pointing at each other.
    expect(formatError(() => parseDnsMessage(hex('0001 8180 0000 0001 0000 0000 c00c 0001 0001 00000001 0004 01020304')))).toMatch(/does not point backwards/);
    expect(formatError(() => parseDnsMessage(hex('0001 8180 0001 0000 0000 0000 c010 0001 0001 c00c')))).toMatch(/does not point backwards/);
    expect(formatError(() => parseDnsMessage(hex('0001 8180 0001 0000 0000 0000 01 61 c00c 0001 0001')))).toMatch(/does not point backwards/);
  });

  it('refuse names over 255 octets built from pointers', () => {
    // Five 63-octet labels, each followed by a pointer to the label before it: every pointer goes backwards, and
    // the name read from block k has k + 1 labels.
    const parts: number[] = [0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 0];
    let previous = -1;
    for (let i = 0; i < 5; i++) {
      const at = parts.length;
      parts.push(63, ...Buffer.alloc(63, 0x61));
      if (previous < 0) parts.push(0);
      else parts.push(0xc0 | (previous >> 8), previous & 0xff);
      previous = at;
    }
    const b = Uint8Array.from(parts);
    const blockAt = [12, 77, 143, 209, 275];
    expect(readDnsName(b, blockAt[0]).name).toBe('a'.repeat(63));
    expect(readDnsName(b, blockAt[2])).toEqual({ name: Array(3).fill('a'.repeat(63)).join('.'), next: blockAt[3] }); // 193 octets
    expect(formatError(() => readDnsName(b, blockAt[3]))).toMatch(/longer than 255/); // 257 octets
    expect(formatError(() => readDnsName(b, blockAt[4]))).toMatch(/longer than 255/);
  });

  it('refuse cut records, bad A lengths, reserved label types and short headers', () => {
    expect(formatError(() => parseDnsMessage(hex('0001 81')))).toMatch(/shorter than a DNS header/);
    expect(formatError(() => parseDnsMessage(EXAMPLE_COM.subarray(0, EXAMPLE_COM.length - 2)))).toMatch(/past the end/);
    expect(formatError(() => parseDnsMessage(hex('0001 8180 0001 0001 0000 0000 01 61 00 0001 0001 c00c 0001 0001 00000001 0005 0102030405')))).toMatch(/5 bytes of data, not 4/);
    expect(formatError(() => parseDnsMessage(hex('0001 8180 0001 0000 0000 0000 41 61 00 0001 0001')))).toMatch(/reserved label type/);
    expect(formatError(() => parseDnsMessage(hex('0001 8180 0002 0000 0000 0000 01 61 00 0001 0001')))).toMatch(/past the end/);
    // A CNAME whose name does not fill its RDATA.
    expect(formatError(() => parseDnsMessage(hex('0001 8180 0001 0001 0000 0000 01 61 00 0001 0001 c00c 0005 0001 00000001 0003 c00c 00')))).toMatch(/does not fill/);
  });

  it('never throw anything but DnsFormatError on mutated responses', () => {
    // A seeded xorshift: the same mutations on every run.
    let state = 0x2545f491;
    const random = (n: number): number => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const seeds = [EXAMPLE_COM, WWW_CNAME];
    let parsed = 0;
    for (let i = 0; i < 20000; i++) {
      const seed = seeds[i % 2];
      const b = Uint8Array.from(seed.subarray(0, seed.length - random(4)));
      for (let k = random(4) + 1; k > 0; k--) b[random(b.length)] = random(256);
      try {
        const m = parseDnsMessage(b);
        extractAddresses(m, 'www.example.com');
        parsed++;
      } catch (error) {
        if (!(error instanceof DnsFormatError)) throw error;
      }
    }
    expect(parsed).toBeGreaterThan(1000); // most single-byte changes still parse: the fuzz reaches the records
  });
});

describe('parseResolvConf', () => {
  it('takes IPv4 nameservers (at most 3) and the timeout and attempts options', () => {
    const conf = parseResolvConf([
      '# written by hand',
      'search example.test',
      'nameserver 198.18.0.53',
      'nameserver ::1',
      '; another comment',
      'nameserver 198.18.0.54 # trailing comment',
      'nameserver',
      'nameserver 300.1.1.1',
      'nameserver 198.18.0.55',
      'nameserver 198.18.0.56',
      'options ndots:2 timeout:1 attempts:9',
      'options timeout:45',
      'options timeout:x',
    ].join('\r\n'));
    expect(conf.nameservers).toEqual(['198.18.0.53', '198.18.0.54', '198.18.0.55']);
    expect(conf.ignored.map((i) => [i.line, i.reason])).toEqual([
      [4, 'IPv6 (the stack speaks IPv4)'], [7, 'no address'], [8, 'not an IPv4 address'], [10, 'more than 3 nameservers'],
    ]);
    expect(conf.timeoutSeconds).toBe(30);
    expect(conf.attempts).toBe(5);
  });

  it('gives nothing for an empty or foreign file', () => {
    expect(parseResolvConf('')).toEqual({ nameservers: [], ignored: [] });
    expect(parseResolvConf('\0\0garbage\nnameserver\tfe80::1%eth0\n').nameservers).toEqual([]);
  });
});
