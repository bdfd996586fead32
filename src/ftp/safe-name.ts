// Names that come from a server (listings, URLs) become local file names only through this check: one path
// component, no traversal, no control characters. A hostile listing of "../../.bashrc" must not write anywhere.

import { FtpError } from './errors.js';

/** Why `name` is not safe as a single local path component, or undefined if it is. */
export function unsafeNameReason(name: string): string | undefined {
  if (name === '') return 'empty name';
  if (name === '.' || name === '..') return `"${name}" refers to a directory, not an entry`;
  if (name.includes('/') || name.includes('\\')) return 'contains a path separator';
  // C0 controls (CR, LF, NUL, ESC …) and DEL: they corrupt terminals, logs and line-based listings.
  if (/[\x00-\x1f\x7f]/.test(name)) return 'contains a control character';
  if (Buffer.byteLength(name, 'utf8') > 255) return 'longer than 255 bytes';
  return undefined;
}

/** Returns `name` if it is a safe single local path component; throws FtpError('usage') otherwise. */
export function safeLocalName(name: string): string {
  const reason = unsafeNameReason(name);
  if (reason !== undefined) throw new FtpError('usage', `unsafe file name ${JSON.stringify(name)}: ${reason}`);
  return name;
}
