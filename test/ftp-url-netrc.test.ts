import { describe, expect, it } from 'vitest';
import { parseFtpUrl, redactUrl } from '../src/ftp/url.js';
import { findNetrcEntry, parseNetrc } from '../src/ftp/netrc.js';
import { FtpError } from '../src/ftp/errors.js';

function usageError(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(FtpError);
    expect((error as FtpError).kind).toBe('usage');
    return (error as FtpError).message;
  }
  throw new Error('expected an error');
}

describe('parseFtpUrl', () => {
  it('parses user, password, port, path and type', () => {
    const url = parseFtpUrl('ftp://bob:p%40ss%3Aw@198.18.2.1:2121/pub/a%20b.bin;type=i');
    expect(url).toMatchObject({ scheme: 'ftp', host: '198.18.2.1', port: 2121, user: 'bob', password: 'p@ss:w', path: 'pub/a b.bin', type: 'i', isDirectory: false, fileName: 'a b.bin' });
  });
  it('defaults ports, handles directories, absolute paths and IPv6', () => {
    expect(parseFtpUrl('ftp://h/').port).toBe(21);
    expect(parseFtpUrl('ftps://h/x').port).toBe(990);
    expect(parseFtpUrl('ftp://h/dir/')).toMatchObject({ path: 'dir/', isDirectory: true, fileName: '' });
    expect(parseFtpUrl('ftp://h')).toMatchObject({ path: '', isDirectory: true });
    expect(parseFtpUrl('ftp://h/%2Fetc/x').path).toBe('/etc/x');
    expect(parseFtpUrl('ftp://[::1]:21/x').host).toBe('::1');
    expect(parseFtpUrl('ftp://h/d;type=d').isDirectory).toBe(true);
  });
  it('refuses other schemes, CR/LF in paths, bad types, and never echoes the password', () => {
    expect(usageError(() => parseFtpUrl('http://h/x'))).toMatch(/not an ftp/);
    expect(usageError(() => parseFtpUrl('ftp://h/a%0D%0ADELE%20x'))).toMatch(/contains CR/);
    expect(usageError(() => parseFtpUrl('ftp://h/x;type=z'))).toMatch(/unknown ;type=z/);
    expect(usageError(() => parseFtpUrl('ftp://u:topsecret@h/x?q'))).not.toContain('topsecret');
    expect(usageError(() => parseFtpUrl('ftp://u:topsecret@h/%zz'))).not.toContain('topsecret');
  });
  it('redacts passwords', () => {
    expect(redactUrl('ftp://u:secret@h/x')).toBe('ftp://u:****@h/x');
    expect(redactUrl('ftp://u@h/x')).toBe('ftp://u@h/x');
  });
});

describe('.netrc', () => {
  const text = [
    '# comment line',
    'machine ftp.example.com login bob password "pa ss\\"word"',
    'macdef init',
    'cd /pub',
    'machine fake login x',
    '',
    'machine 198.18.2.1',
    '  login rsftp',
    '  password secret account acct',
    'default login anonymous password me@',
  ].join('\n');
  it('parses machines, quoting, multi-line entries, macdef and default', () => {
    const entries = parseNetrc(text);
    expect(findNetrcEntry(entries, 'FTP.example.com')).toMatchObject({ login: 'bob', password: 'pa ss"word' });
    expect(findNetrcEntry(entries, '198.18.2.1')).toMatchObject({ login: 'rsftp', password: 'secret', account: 'acct' });
    expect(findNetrcEntry(entries, 'fake')).toMatchObject({ login: 'anonymous' }); // inside macdef: not an entry
    expect(findNetrcEntry(entries, 'other')).toMatchObject({ machine: undefined, login: 'anonymous' });
    expect(findNetrcEntry(parseNetrc('machine a login b'), 'c')).toBeUndefined();
  });
});
