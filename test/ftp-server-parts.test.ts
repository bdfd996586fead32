// The FTP server's pure pieces: command-line reading, reply formatting, data addresses, virtual paths, listings
// (read back with the client's own parsers) and TYPE A conversion.

import { describe, expect, it } from 'vitest';
import { parseMlsdLine } from '../src/ftp/list-mlsd.js';
import { parseUnixListLine } from '../src/ftp/list-unix.js';
import { ReplyParser } from '../src/ftp/reply.js';
import { activeTargetRefusal, formatEpsvReply, formatPasvReply, parseEprtArgument, parsePortArgument } from '../src/ftp/server-address.js';
import { AsciiDecoder, AsciiEncoder } from '../src/ftp/server-ascii.js';
import { CommandLineReader, parseCommandLine } from '../src/ftp/server-command.js';
import { formatListLine, formatMlsxEntry, formatTimeVal, selectMlstFacts, type ListedEntry } from '../src/ftp/server-listing.js';
import { joinVirtual, parentOf } from '../src/ftp/server-paths.js';
import { formatReply, FtpReplyError, quotePath } from '../src/ftp/server-reply.js';
import { parseEpsvReply, parsePasvReply } from '../src/ftp/passive.js';

const bytes = (text: string) => Buffer.from(text, 'latin1');

describe('CommandLineReader', () => {
  it('splits lines across chunks, upper-cases the verb and keeps the argument verbatim', () => {
    const reader = new CommandLineReader(64);
    expect(reader.push(bytes('us'))).toEqual([]);
    expect(reader.buffered).toBe(2);
    expect(reader.push(bytes('er Bob\r\nRETR  two  spaces.txt\r\nnoop\n'))).toEqual([
      { kind: 'command', verb: 'USER', arg: 'Bob' },
      { kind: 'command', verb: 'RETR', arg: ' two  spaces.txt' },
      { kind: 'command', verb: 'NOOP', arg: '' },
    ]);
    expect(reader.buffered).toBe(0);
  });

  it('decodes UTF-8 names even when a character is split between chunks', () => {
    const reader = new CommandLineReader();
    const line = Buffer.from('RETR häßlich.txt\r\n', 'utf8');
    expect(reader.push(line.subarray(0, 7))).toEqual([]);
    expect(reader.push(line.subarray(7))).toEqual([{ kind: 'command', verb: 'RETR', arg: 'häßlich.txt' }]);
  });

  it('reports an overlong line once, skips it to its end and goes on', () => {
    const reader = new CommandLineReader(16);
    const out = reader.push(bytes(`RETR ${'x'.repeat(40)}`));
    expect(out).toEqual([{ kind: 'invalid', reason: 'command line longer than 16 bytes' }]);
    expect(reader.buffered).toBe(0); // nothing of it is kept
    expect(reader.push(bytes(`${'y'.repeat(100)}\r\nNOOP\r\n`))).toEqual([{ kind: 'command', verb: 'NOOP', arg: '' }]);
  });

  it('rejects lines that are not commands, and NUL', () => {
    expect(parseCommandLine('')).toEqual({ kind: 'invalid', reason: 'empty command line' });
    expect(parseCommandLine('12345 x')).toEqual({ kind: 'invalid', reason: 'not a command verb' });
    expect(parseCommandLine('RETR a\0b').kind).toBe('invalid');
  });

  it('removes Telnet IAC sequences, including ABOR after IAC IP IAC with the DM sent as urgent data', () => {
    const reader = new CommandLineReader();
    // IAC IP IAC (DM went out of band) ABOR
    expect(reader.push(Buffer.from([0xff, 0xf4, 0xff, ...bytes('ABOR\r\n')]))).toEqual([{ kind: 'command', verb: 'ABOR', arg: '' }]);
    // IAC DO x split across chunks, IAC IAC is a literal 0xFF
    expect(reader.push(Buffer.from([0xff]))).toEqual([]);
    expect(reader.push(Buffer.from([0xfd]))).toEqual([]);
    expect(reader.push(Buffer.from([0x01, ...bytes('NOOP\r\n')]))).toEqual([{ kind: 'command', verb: 'NOOP', arg: '' }]);
    const out = reader.push(Buffer.from([...bytes('RETR a'), 0xff, 0xff, ...bytes('\r\n')]));
    expect(out).toHaveLength(1);
    expect(out[0].kind === 'command' && out[0].arg.length).toBe(2);
  });
});

describe('replies', () => {
  it('formats one-line and multi-line replies the client parser reads back', () => {
    const parser = new ReplyParser();
    const replies = parser.push(Buffer.concat([
      formatReply(200, 'ok'),
      formatReply(211, ['Features:', 'MDTM', '211 looks like an end', 'End']),
    ]));
    expect(replies.map((r) => r.code)).toEqual([200, 211]);
    expect(replies[1].lines).toEqual(['211-Features:', ' MDTM', ' 211 looks like an end', '211 End']);
  });

  it('never lets text break the framing', () => {
    expect(formatReply(550, 'a\r\n200 fake').toString()).toBe('550-a?\r\n550 200 fake\r\n');
    expect(formatReply(550, 'x\ry\0z').toString()).toBe('550 x?y?z\r\n');
    expect(quotePath('/a "b"')).toBe('"/a ""b"""');
    expect(() => formatReply(99, 'x')).toThrow(RangeError);
  });
});

describe('data addresses', () => {
  it('parses PORT and EPRT strictly', () => {
    expect(parsePortArgument('127,0,0,1,156,64')).toEqual({ host: '127.0.0.1', port: 40000 });
    expect(parseEprtArgument('|1|198.18.2.2|40001|')).toEqual({ host: '198.18.2.2', port: 40001 });
    expect(parseEprtArgument('!2!::1!5000!')).toEqual({ host: '::1', port: 5000 });
    for (const bad of ['127,0,0,1,156', '127,0,0,256,1,1', '1,2,3,4,0,0', 'x']) {
      expect(() => parsePortArgument(bad), bad).toThrow(FtpReplyError);
    }
    for (const bad of ['|1|::1|5000|', '|3|1.2.3.4|5000|', '|1|1.2.3.4|99999|', '1|1.2.3.4|5|', '']) {
      expect(() => parseEprtArgument(bad), bad).toThrow(FtpReplyError);
    }
    try {
      parseEprtArgument('|3|1.2.3.4|5000|');
    } catch (error) {
      expect((error as FtpReplyError).code).toBe(522);
    }
  });

  it('refuses third-party hosts and privileged ports (RFC 2577)', () => {
    expect(activeTargetRefusal({ host: '198.18.2.2', port: 40000 }, '::ffff:198.18.2.2')).toBeUndefined();
    expect(activeTargetRefusal({ host: '198.18.2.3', port: 40000 }, '198.18.2.2')).toMatch(/only to the client's own address/);
    expect(activeTargetRefusal({ host: '198.18.2.2', port: 25 }, '198.18.2.2')).toMatch(/privileged port 25/);
  });

  it('formats PASV and EPSV replies the client parses back', () => {
    expect(parsePasvReply(formatPasvReply('::ffff:198.18.2.1', 40123))).toEqual({ host: '198.18.2.1', port: 40123 });
    expect(parseEpsvReply(formatEpsvReply(40123))).toBe(40123);
    expect(() => formatPasvReply('::1', 5)).toThrow(FtpReplyError);
  });
});

describe('virtual paths', () => {
  it('joins and normalises, and ".." never climbs above "/"', () => {
    expect(joinVirtual('/', 'a/b')).toBe('/a/b');
    expect(joinVirtual('/a/b', '../c')).toBe('/a/c');
    expect(joinVirtual('/a', '../../../../etc/passwd')).toBe('/etc/passwd');
    expect(joinVirtual('/a', '/x//./y/')).toBe('/x/y');
    expect(joinVirtual('/a', '..')).toBe('/');
    expect(parentOf('/a/b')).toBe('/a');
    expect(parentOf('/a')).toBe('/');
  });
});

describe('listings', () => {
  const now = new Date(Date.UTC(2025, 5, 15, 12, 0, 0));
  const file: ListedEntry = { name: 'a file.bin', type: 'file', size: 5_000_000_000, modified: new Date(Date.UTC(2025, 4, 1, 8, 30, 5)), mode: 0o644, writable: false };
  const dir: ListedEntry = { name: 'old', type: 'dir', size: 0, modified: new Date(Date.UTC(2019, 0, 2)), mode: 0o755, writable: true };

  it('LIST lines read back by the client parser: time for recent dates, year for old ones', () => {
    const line = formatListLine(file, now);
    expect(line).toBe('-rw-r--r--    1 ftp      ftp        5000000000 May  1 08:30 a file.bin');
    const info = parseUnixListLine(line, now);
    expect(info).toMatchObject({ name: 'a file.bin', type: 'file', size: 5_000_000_000, permissions: 'rw-r--r--' });
    expect(info?.modifiedAt?.toISOString()).toBe('2025-05-01T08:30:00.000Z');
    const old = parseUnixListLine(formatListLine(dir, now), now);
    expect(old).toMatchObject({ name: 'old', type: 'directory' });
    expect(old?.modifiedAt?.toISOString()).toBe('2019-01-02T00:00:00.000Z');
  });

  it('MLSD entries with the selected facts, read back by the client parser', () => {
    const facts = selectMlstFacts('type;size;modify;perm;unix.mode;bogus;');
    const entry = parseMlsdLine(formatMlsxEntry(file, facts));
    expect(entry.info).toMatchObject({ name: 'a file.bin', type: 'file', size: 5_000_000_000 });
    expect(entry.info.facts).toMatchObject({ perm: 'r', 'unix.mode': '0644', modify: '20250501083005' });
    expect(parseMlsdLine(formatMlsxEntry(dir, facts, 'cdir')).selfOrParent).toBe(true);
    expect(parseMlsdLine(formatMlsxEntry(dir, facts)).info.facts['perm']).toBe('cel');
    expect(formatMlsxEntry(file, selectMlstFacts('size'))).toBe('size=5000000000; a file.bin');
    expect(formatTimeVal(new Date(Date.UTC(2001, 1, 3, 4, 5, 6)))).toBe('20010203040506');
  });
});

describe('TYPE A conversion', () => {
  it('LF → CRLF on the way out, across chunk boundaries, leaving existing CRLF alone', () => {
    const encoder = new AsciiEncoder();
    const out = Buffer.concat(['a\nb\r', '\nc\n', '\n'].map((part) => encoder.encode(bytes(part)))).toString('latin1');
    expect(out).toBe('a\r\nb\r\nc\r\n\r\n');
  });

  it('CRLF → LF on the way in, a CR split from its LF, and a lone CR kept', () => {
    const decoder = new AsciiDecoder();
    const parts = ['a\r', '\nb\r', 'x\r\n', '', 'end\r'].map((part) => decoder.decode(bytes(part)));
    parts.push(decoder.flush());
    expect(Buffer.concat(parts).toString('latin1')).toBe('a\nb\rx\nend\r');
  });
});
