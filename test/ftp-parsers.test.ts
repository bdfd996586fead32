import { describe, expect, it } from 'vitest';
import { ReplyParser } from '../src/ftp/reply.js';
import { describeCommand, encodeCommand } from '../src/ftp/command.js';
import { formatOffset, parseDecimal, parseMdtmReply, parseSizeReply, parseTimeVal } from '../src/ftp/numbers.js';
import {
  chooseDataHost,
  formatEprtArgument,
  formatPortArgument,
  parseEpsvReply,
  parsePasvReply,
} from '../src/ftp/passive.js';
import { parseMlsdLine, parseMlstReply } from '../src/ftp/list-mlsd.js';
import { parseUnixListLine } from '../src/ftp/list-unix.js';
import { parseDosListLine } from '../src/ftp/list-dos.js';
import { parseListing } from '../src/ftp/listing.js';
import { safeLocalName } from '../src/ftp/safe-name.js';
import { FtpError } from '../src/ftp/errors.js';

const bytes = (text: string) => Buffer.from(text, 'utf8');

function expectFtpError(fn: () => unknown, kind: string, pattern: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(FtpError);
  expect((caught as FtpError).kind).toBe(kind);
  expect((caught as FtpError).message).toMatch(pattern);
}

describe('ReplyParser (RFC 959 §4.2)', () => {
  it('parses single-line replies, CRLF or bare LF, and a bare code', () => {
    const parser = new ReplyParser();
    const replies = parser.push(bytes('220 Welcome\r\n331 Password please\n200\r\n'));
    expect(replies.map((r) => [r.code, r.message])).toEqual([
      [220, 'Welcome'],
      [331, 'Password please'],
      [200, ''],
    ]);
    expect(parser.pending).toBe(false);
  });

  it('joins a multi-line reply whose inner lines start with digits or other codes', () => {
    const parser = new ReplyParser();
    const text = '211-Features:\r\n EPSV\r\n211 in the middle is not the end? it is\r\n';
    const [feat] = parser.push(bytes(text));
    expect(feat.code).toBe(211);
    expect(feat.lines).toEqual(['211-Features:', ' EPSV', '211 in the middle is not the end? it is']);
    const odd = parser.push(bytes('230-Hello\r\n230-still hello\r\n123 another code inside\r\n230\r\n'));
    expect(odd).toHaveLength(1);
    expect(odd[0].code).toBe(230);
    expect(odd[0].lines).toHaveLength(4);
  });

  it('reassembles replies split at every byte boundary', () => {
    const text = '150-Opening\r\n data\r\n150 ok\r\n226 Done\r\n';
    for (let cut = 1; cut < text.length; cut++) {
      const parser = new ReplyParser();
      const replies = [...parser.push(bytes(text.slice(0, cut))), ...parser.push(bytes(text.slice(cut)))];
      expect(replies.map((r) => r.code)).toEqual([150, 226]);
    }
  });

  it('decodes UTF-8 split across chunks', () => {
    const parser = new ReplyParser();
    const all = bytes('257 "/Grüße" created\r\n');
    const split = all.indexOf(0xc3) + 1;
    expect(parser.push(all.subarray(0, split))).toEqual([]);
    expect(parser.push(all.subarray(split))[0].message).toBe('"/Grüße" created');
  });

  it('replaces invalid UTF-8 with U+FFFD, in a whole line and across chunks; a stray CR before LF is dropped', () => {
    const parser = new ReplyParser();
    const bad = Buffer.concat([bytes('550 caf'), Buffer.from([0xe9, 0xff]), bytes(' not found\r\n')]);
    expect(parser.push(bad)[0].message).toBe('caf\ufffd\ufffd not found');
    const split = Buffer.concat([bytes('550 x'), Buffer.from([0xc3]), bytes('\r\r\n')]);
    expect(parser.push(split.subarray(0, 6))).toEqual([]);
    const [reply] = parser.push(split.subarray(6));
    expect(reply.message).toBe('x\ufffd\r');
    expect(reply.lines).toEqual(['550 x\ufffd\r']);
  });

  it('rejects garbage, a bad separator, and codes outside 100–599', () => {
    expectFtpError(() => new ReplyParser().push(bytes('hello\r\n')), 'protocol', /malformed control reply/);
    expectFtpError(() => new ReplyParser().push(bytes('220xWelcome\r\n')), 'protocol', /malformed/);
    expectFtpError(() => new ReplyParser().push(bytes('620 nope\r\n')), 'protocol', /malformed/);
  });

  it('returns the replies before a bad line, then reports the error', () => {
    const parser = new ReplyParser();
    expect(parser.push(bytes('200 ok\r\nnonsense\r\n')).map((r) => r.code)).toEqual([200]);
    expect(parser.error?.message).toMatch(/malformed control reply line: "nonsense"/);
    expectFtpError(() => parser.push(bytes('200 again\r\n')), 'protocol', /nonsense/);
  });

  it('bounds line length even when the line never ends', () => {
    const parser = new ReplyParser({ maxLineBytes: 100 });
    parser.push(bytes('220 ' + 'a'.repeat(50)));
    expectFtpError(() => parser.push(bytes('a'.repeat(60))), 'protocol', /longer than 100 bytes/);
    expectFtpError(() => new ReplyParser({ maxLineBytes: 100 }).push(bytes('220 ' + 'b'.repeat(200) + '\r\n')), 'protocol', /longer/);
  });

  it('bounds the size of a multi-line reply', () => {
    const parser = new ReplyParser({ maxReplyBytes: 1000 });
    parser.push(bytes('211-start\r\n'));
    expectFtpError(() => {
      for (let i = 0; i < 100; i++) parser.push(bytes(` line ${i} of an endless reply\r\n`));
    }, 'protocol', /larger than 1000 bytes/);
  });
});

describe('command encoding', () => {
  it('encodes verb and argument with CRLF in UTF-8', () => {
    expect(encodeCommand('NOOP').toString()).toBe('NOOP\r\n');
    expect(encodeCommand('RETR', 'dir/ä b.txt').toString('utf8')).toBe('RETR dir/ä b.txt\r\n');
  });
  it('refuses CR, LF and NUL in arguments and odd verbs', () => {
    expectFtpError(() => encodeCommand('RETR', 'a\r\nDELE b'), 'usage', /contains CR at position 1/);
    expectFtpError(() => encodeCommand('RETR', 'a\nb'), 'usage', /contains LF/);
    expectFtpError(() => encodeCommand('CWD', 'a\0b'), 'usage', /contains NUL/);
    expectFtpError(() => encodeCommand('RETR x'), 'usage', /not an FTP command verb/);
  });
  it('hides secrets in descriptions', () => {
    expect(describeCommand('PASS', 'hunter2')).toBe('PASS ****');
    expect(describeCommand('USER', 'bob')).toBe('USER bob');
  });
});

describe('sizes, offsets and times', () => {
  it('parses sizes beyond 4 GiB and 2^32 exactly', () => {
    expect(parseSizeReply('5368709120')).toBe(5 * 1024 ** 3);
    expect(parseSizeReply(' 9007199254740991 ')).toBe(Number.MAX_SAFE_INTEGER);
    expect(formatOffset(4294967297)).toBe('4294967297');
  });
  it('rejects junk and values past 2^53', () => {
    expectFtpError(() => parseSizeReply('12abc'), 'protocol', /not a decimal/);
    expectFtpError(() => parseSizeReply('-1'), 'protocol', /not a decimal/);
    expectFtpError(() => parseDecimal('9007199254740993', 'size'), 'protocol', /beyond 2\^53/);
    expectFtpError(() => formatOffset(-1), 'usage', /invalid byte offset/);
  });
  it('parses time-vals and refuses impossible dates', () => {
    expect(parseMdtmReply('20240229235959').toISOString()).toBe('2024-02-29T23:59:59.000Z');
    expect(parseTimeVal('20200101000000.5')?.getTime()).toBe(Date.UTC(2020, 0, 1) + 500);
    expect(parseTimeVal('20230229000000')).toBeUndefined();
    expectFtpError(() => parseMdtmReply('yesterday'), 'protocol', /not a time-val/);
  });
});

describe('PASV / EPSV / PORT / EPRT', () => {
  it('parses PASV replies with and without parentheses', () => {
    expect(parsePasvReply('Entering Passive Mode (198,18,0,1,195,80).')).toEqual({ host: '198.18.0.1', port: 50000 });
    expect(parsePasvReply('Entering Passive Mode 10,0,0,5,4,1')).toEqual({ host: '10.0.0.5', port: 1025 });
    expectFtpError(() => parsePasvReply('Entering Passive Mode (1,2,3,256,1,1)'), 'protocol', /above 255/);
    expectFtpError(() => parsePasvReply('Entering Passive Mode'), 'protocol', /no address/);
    expectFtpError(() => parsePasvReply('(1,2,3,4,0,0)'), 'protocol', /port 0/);
  });
  it('parses EPSV with any delimiter', () => {
    expect(parseEpsvReply('Entering Extended Passive Mode (|||50001|)')).toBe(50001);
    expect(parseEpsvReply('ok (!!!21!)')).toBe(21);
    expectFtpError(() => parseEpsvReply('Entering Extended Passive Mode (|||70000|)'), 'protocol', /port 70000/);
    expectFtpError(() => parseEpsvReply('(|1|2|)'), 'protocol', /no port/);
  });
  it('never connects to a host other than the control peer (RFC 2577)', () => {
    expect(chooseDataHost('198.18.0.1', '198.18.0.1')).toEqual({ host: '198.18.0.1', replaced: undefined });
    expect(chooseDataHost('198.18.0.1', '::ffff:198.18.0.1').host).toBe('198.18.0.1');
    expect(chooseDataHost('0.0.0.0', '198.18.0.1')).toEqual({ host: '198.18.0.1', replaced: 'zero' });
    expect(chooseDataHost('192.168.1.5', '198.18.0.1')).toEqual({ host: '198.18.0.1', replaced: 'private' });
    expect(chooseDataHost('203.0.113.9', '198.18.0.1')).toEqual({ host: '198.18.0.1', replaced: 'different' });
  });
  it('formats PORT and EPRT arguments', () => {
    expect(formatPortArgument('198.18.2.2', 50000)).toBe('198,18,2,2,195,80');
    expect(formatEprtArgument('198.18.2.2', 50000)).toBe('|1|198.18.2.2|50000|');
    expect(formatEprtArgument('::1', 21)).toBe('|2|::1|21|');
    expectFtpError(() => formatPortArgument('::1', 21), 'usage', /IPv4/);
    expectFtpError(() => formatEprtArgument('host.example', 21), 'usage', /IP address/);
  });
});

const NOW = new Date(Date.UTC(2024, 5, 15, 12, 0));

describe('MLSD / MLST', () => {
  it('parses facts case-insensitively and keeps spaces and semicolons in names', () => {
    const { info, selfOrParent } = parseMlsdLine('Type=file;Size=5368709120;Modify=20240101120000;Perm=adfrw; my; file.txt');
    expect(selfOrParent).toBe(false);
    expect(info.name).toBe('my; file.txt');
    expect(info.type).toBe('file');
    expect(info.size).toBe(5368709120);
    expect(info.modifiedAt?.toISOString()).toBe('2024-01-01T12:00:00.000Z');
    expect(info.facts['perm']).toBe('adfrw');
  });
  it('recognises dirs, cdir/pdir and unix symlinks', () => {
    expect(parseMlsdLine('type=cdir; .').selfOrParent).toBe(true);
    expect(parseMlsdLine('type=dir;modify=20200101000000; sub').info.type).toBe('directory');
    expect(parseMlsdLine('type=OS.unix=symlink; l').info.type).toBe('symlink');
    const slink = parseMlsdLine('type=OS.unix=slink:/etc/x; l').info;
    expect([slink.type, slink.linkTarget]).toEqual(['symlink', '/etc/x']);
  });
  it('rejects lines without a name or with a valueless fact', () => {
    expectFtpError(() => parseMlsdLine('type=file;size=1;'), 'protocol', /without a name/);
    expectFtpError(() => parseMlsdLine('type; x'), 'protocol', /without a value/);
  });
  it('extracts the entry of an MLST reply', () => {
    const info = parseMlstReply(['250-Listing x', ' type=file;size=10; /pub/x', '250 End']);
    expect([info.name, info.size]).toEqual(['/pub/x', 10]);
  });
});

describe('LIST unix', () => {
  it('parses vsftpd-style lines with numeric owners', () => {
    const info = parseUnixListLine('-rw-r--r--    1 0        0        5368709120 Jun 01 04:15 big file.bin', NOW);
    expect(info?.name).toBe('big file.bin');
    expect(info?.size).toBe(5368709120);
    expect(info?.type).toBe('file');
    expect(info?.permissions).toBe('rw-r--r--');
    expect(info?.modifiedAt?.toISOString()).toBe('2024-06-01T04:15:00.000Z');
  });
  it('resolves year-less dates in the future to last year', () => {
    const info = parseUnixListLine('-rw-r--r-- 1 ftp ftp 10 Dec 24 18:00 x', NOW);
    expect(info?.modifiedAt?.getUTCFullYear()).toBe(2023);
  });
  it('parses directories with a year, symlinks, missing group and ACL markers', () => {
    const dir = parseUnixListLine('drwxr-xr-x+  12 owner group 4096 Jan  5  2020  spaced', NOW);
    expect([dir?.type, dir?.name, dir?.modifiedAt?.getUTCFullYear()]).toEqual(['directory', ' spaced', 2020]);
    const link = parseUnixListLine('lrwxrwxrwx 1 root 7 Jan 5 2020 latest -> v1.2', NOW);
    expect([link?.type, link?.name, link?.linkTarget]).toEqual(['symlink', 'latest', 'v1.2']);
  });
  it('returns undefined for non-listing lines quickly, even long ones', () => {
    expect(parseUnixListLine('total 12', NOW)).toBeUndefined();
    const start = performance.now();
    expect(parseUnixListLine('-rw-r--r-- 1 ' + 'a '.repeat(20000), NOW)).toBeUndefined();
    expect(performance.now() - start).toBeLessThan(2000); // a bound on catastrophic backtracking, not a speed test
  });
});

describe('LIST DOS', () => {
  it('parses IIS lines with AM/PM and <DIR>', () => {
    const dir = parseDosListLine('01-15-20  03:45PM       <DIR>          my dir');
    expect([dir?.type, dir?.name, dir?.size, dir?.modifiedAt?.toISOString()]).toEqual([
      'directory', 'my dir', undefined, '2020-01-15T15:45:00.000Z',
    ]);
    const file = parseDosListLine('12-31-1999  12:05AM            5368709120 big.iso');
    expect([file?.size, file?.modifiedAt?.toISOString()]).toEqual([5368709120, '1999-12-31T00:05:00.000Z']);
  });
});

describe('parseListing', () => {
  it('mixes unix and DOS lines, skips totals and dot entries, and reports what it cannot use', () => {
    const text = [
      'total 8',
      'drwxr-xr-x 2 0 0 4096 Jan 1 2020 .',
      '-rw-r--r-- 1 0 0 3 Jan 1 2020 a.txt',
      '01-15-20  03:45PM 7 b.txt',
      'garbage line',
      '-rw-r--r-- 1 0 0 3 Jan 1 2020 ../../etc/passwd',
      '-rw-r--r-- 1 0 0 3 Jan 1 2020 evil\rname',
      '',
    ].join('\r\n');
    const listing = parseListing(text, 'list', NOW);
    expect(listing.entries.map((e) => e.name)).toEqual(['a.txt', 'b.txt']);
    expect(listing.rejected.map((r) => r.reason)).toEqual([
      'not a unix or DOS listing line',
      expect.stringMatching(/unsafe name.*path separator/),
      expect.stringMatching(/unsafe name.*control character/),
    ]);
  });
  it('handles MLSD with cdir/pdir and bad lines', () => {
    const listing = parseListing('type=cdir; .\r\ntype=pdir; ..\r\ntype=file;size=1; x\r\nbroken\r\ntype=file; ..\r\n', 'mlsd', NOW);
    expect(listing.entries.map((e) => e.name)).toEqual(['x']);
    expect(listing.rejected).toHaveLength(2);
  });
  it('handles NLST with directory prefixes and traversal', () => {
    const listing = parseListing('a\r\nsub/b\r\n../c\r\n', 'nlst', NOW);
    expect(listing.entries.map((e) => e.name)).toEqual(['a', 'b']);
    expect(listing.rejected[0].line).toBe('../c');
  });
});

describe('safeLocalName', () => {
  it('accepts plain names and rejects traversal and control characters', () => {
    expect(safeLocalName('file.bin')).toBe('file.bin');
    for (const bad of ['', '.', '..', 'a/b', 'a\\b', 'a\nb', 'a\0b', 'x'.repeat(256)]) {
      expectFtpError(() => safeLocalName(bad), 'usage', /unsafe file name/);
    }
  });
});
