// Sizes and offsets: files beyond 4 GiB are ordinary, so every size is parsed from its decimal digits with an
// explicit range check instead of parseInt (which silently accepts "12abc" and loses precision past 2^53).

import { FtpError } from './errors.js';

/** Largest size or offset we accept: 2^53 − 1 bytes (8 PiB), the integers a JS number holds exactly. */
export const MAX_FILE_OFFSET = Number.MAX_SAFE_INTEGER;

/** Parses a non-negative decimal integer that must fit in MAX_FILE_OFFSET. */
export function parseDecimal(text: string, what: string): number {
  if (!/^\d{1,16}$/.test(text)) {
    throw new FtpError('protocol', `${what} is not a decimal number: ${JSON.stringify(text.slice(0, 40))}`);
  }
  const value = Number(text);
  if (!Number.isSafeInteger(value)) throw new FtpError('protocol', `${what} ${text} is beyond 2^53 - 1`);
  return value;
}

/** SIZE reply (RFC 3659 §4): "213 <size>". */
export function parseSizeReply(message: string): number {
  return parseDecimal(message.trim(), 'SIZE reply');
}

/** The argument of REST (RFC 3659 §5): a plain decimal byte offset. */
export function formatOffset(offset: number): string {
  if (!Number.isSafeInteger(offset) || offset < 0) throw new FtpError('usage', `invalid byte offset ${offset}`);
  return String(offset);
}

/**
 * A time-val (RFC 3659 §2.3): YYYYMMDDHHMMSS[.sss], always UTC. Used by MDTM replies and MLSD `modify` facts.
 * Returns undefined for anything else rather than guessing.
 */
export function parseTimeVal(text: string): Date | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,9}))?$/.exec(text.trim());
  if (m === null) return undefined;
  const [, y, mo, d, h, mi, s, frac] = m;
  const ms = frac === undefined ? 0 : Math.floor(Number(`0.${frac}`) * 1000);
  const time = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  const date = new Date(time);
  // Reject impossible dates (month 13, day 32) that Date.UTC would roll over.
  if (date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d)) return undefined;
  return date;
}

/** MDTM reply (RFC 3659 §3): "213 YYYYMMDDHHMMSS[.sss]". */
export function parseMdtmReply(message: string): Date {
  const date = parseTimeVal(message);
  if (date === undefined) throw new FtpError('protocol', `MDTM reply is not a time-val: ${JSON.stringify(message)}`);
  return date;
}
