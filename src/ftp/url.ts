// ftp:// and ftps:// URLs (RFC 1738 §3.2): ftp://user:password@host:port/path;type=i|a|d. ftps:// is implicit
// FTPS (port 990). Path segments are percent-decoded and joined with "/", relative to the login directory as the
// RFC says; a first segment "%2F" makes the path absolute.

import { checkArgument } from './command.js';
import { FtpError } from './errors.js';

export interface FtpUrl {
  readonly scheme: 'ftp' | 'ftps';
  readonly host: string;
  readonly port: number;
  readonly user: string | undefined;
  readonly password: string | undefined;
  /** Path to send to the server ('' for the login directory). */
  readonly path: string;
  /** `;type=` code: i (binary), a (ASCII), d (directory listing). */
  readonly type: 'i' | 'a' | 'd' | undefined;
  /** The URL names a directory (ends in "/", or is empty, or type=d). */
  readonly isDirectory: boolean;
  /** The last path segment (the file name), '' for a directory. */
  readonly fileName: string;
}

export function parseFtpUrl(text: string): FtpUrl {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FtpError('usage', `not a URL: ${JSON.stringify(redactUrl(text))}`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'ftp' && scheme !== 'ftps') throw new FtpError('usage', `not an ftp:// or ftps:// URL: ${redactUrl(text)}`);
  if (url.hostname === '') throw new FtpError('usage', `URL has no host: ${redactUrl(text)}`);
  if (url.search !== '' || url.hash !== '') throw new FtpError('usage', `FTP URLs have no ?query or #fragment: ${redactUrl(text)}`);
  let rawPath = url.pathname;
  let type: FtpUrl['type'];
  const typeMatch = /;type=([^/;]*)$/i.exec(rawPath);
  if (typeMatch !== null) {
    const code = typeMatch[1].toLowerCase();
    if (code !== 'i' && code !== 'a' && code !== 'd') throw new FtpError('usage', `unknown ;type=${typeMatch[1]} (i, a or d)`);
    type = code;
    rawPath = rawPath.slice(0, typeMatch.index);
  }
  const segments = rawPath.replace(/^\//, '').split('/').map((segment) => decode(segment, text));
  for (const segment of segments) checkArgument(segment, 'URL path');
  const path = segments.join('/');
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const user = url.username === '' ? undefined : decode(url.username, text);
  const password = url.password === '' ? undefined : decode(url.password, text);
  if (user !== undefined) checkArgument(user, 'URL user');
  if (password !== undefined) checkArgument(password, 'URL password');
  const isDirectory = type === 'd' || path === '' || path.endsWith('/');
  return {
    scheme,
    host: hostname,
    port: url.port === '' ? (scheme === 'ftps' ? 990 : 21) : Number(url.port),
    user,
    password,
    path,
    type,
    isDirectory,
    fileName: isDirectory ? '' : segments[segments.length - 1],
  };
}

/** The URL with its password replaced by "****", for messages and logs. Works on unparseable text too. */
export function redactUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/[^/@:]*):[^/@]*@/i, '$1:****@');
}

function decode(segment: string, text: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new FtpError('usage', `bad percent-encoding in ${redactUrl(text)}`);
  }
}
