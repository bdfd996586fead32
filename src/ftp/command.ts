// Encoding commands for the control connection (RFC 959 §5.3). An argument carrying CR, LF or NUL would let a
// file name smuggle a second command onto the connection, so the encoder refuses it instead of escaping it.

import { FtpError } from './errors.js';

/** Verbs whose argument is a secret and must never appear in logs or error messages. */
const SECRET_VERBS = new Set(['PASS', 'ACCT']);

// RFC 959 verbs are 3–4 letters; extensions such as XSHA256 carry digits.
const VERB = /^[A-Z][A-Z0-9]{2,7}$/;

/** Throws FtpError('usage') if `arg` cannot be sent on a control connection. */
export function checkArgument(arg: string, what = 'FTP command argument'): void {
  for (let i = 0; i < arg.length; i++) {
    const c = arg.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c === 0x00) {
      const name = c === 0x0d ? 'CR' : c === 0x0a ? 'LF' : 'NUL';
      throw new FtpError('usage', `${what} contains ${name} at position ${i}; refusing to send it`);
    }
  }
}

/** One command line, `VERB[ arg]\r\n`, checked; written as UTF-8 (a socket writes the string without a Buffer). */
export function commandLine(verb: string, arg?: string): string {
  if (!VERB.test(verb)) throw new FtpError('usage', `not an FTP command verb: ${JSON.stringify(verb)}`);
  if (arg === undefined) return `${verb}\r\n`;
  checkArgument(arg, `argument of ${verb}`);
  return `${verb} ${arg}\r\n`;
}

/** The bytes of one command line: `VERB[ arg]\r\n`, the argument in UTF-8. */
export function encodeCommand(verb: string, arg?: string): Buffer {
  return Buffer.from(commandLine(verb, arg), 'utf8');
}

/** The command as it may be shown to a user: secrets replaced by "****". */
export function describeCommand(verb: string, arg?: string): string {
  if (arg === undefined) return verb;
  return SECRET_VERBS.has(verb) ? `${verb} ****` : `${verb} ${arg}`;
}
