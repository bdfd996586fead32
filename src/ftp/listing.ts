// Directory listings as a whole: MLSD, LIST (unix or DOS, detected per line) and NLST. Lines that cannot be parsed,
// and entries whose names are unsafe, are returned with a reason instead of being silently dropped.

import type { FtpFileInfo } from './file-info.js';
import { parseDosListLine } from './list-dos.js';
import { parseMlsdLine } from './list-mlsd.js';
import { parseUnixListLine } from './list-unix.js';
import { unsafeNameReason } from './safe-name.js';
import { FtpError } from './errors.js';

export type ListingFormat = 'mlsd' | 'list' | 'nlst';

export interface RejectedLine {
  readonly line: string;
  readonly reason: string;
}

export interface FtpListing {
  readonly format: ListingFormat;
  readonly entries: FtpFileInfo[];
  /** Lines that were not entries we can use: unparseable, or naming something unsafe ("../x", "a\rb"). */
  readonly rejected: RejectedLine[];
}

/**
 * Splits listing text into lines. Lines end in CRLF; a bare LF is tolerated. A CR inside a line is kept, so a name
 * containing CR is seen (and rejected) rather than silently cut.
 */
export function splitListingLines(text: string): string[] {
  const lines = text.split('\n').map((line) => (line.endsWith('\r') ? line.slice(0, -1) : line));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/** Parses a listing's text. `now` resolves the year of recent unix LIST dates. */
export function parseListing(text: string, format: ListingFormat, now: Date): FtpListing {
  const entries: FtpFileInfo[] = [];
  const rejected: RejectedLine[] = [];
  for (const line of splitListingLines(text)) {
    if (line.trim() === '') continue;
    let info: FtpFileInfo | undefined;
    if (format === 'mlsd') {
      try {
        const entry = parseMlsdLine(line);
        if (entry.selfOrParent) continue;
        info = entry.info;
      } catch (error) {
        rejected.push({ line, reason: error instanceof FtpError ? error.message : String(error) });
        continue;
      }
    } else if (format === 'list') {
      if (/^total\s+\d+$/i.test(line.trim())) continue;
      info = parseUnixListLine(line, now) ?? parseDosListLine(line);
      if (info === undefined) {
        rejected.push({ line, reason: 'not a unix or DOS listing line' });
        continue;
      }
      if (info.name === '.' || info.name === '..') continue;
    } else {
      info = nlstEntry(line);
    }
    const reason = unsafeNameReason(info.name);
    if (reason !== undefined) {
      rejected.push({ line, reason: `unsafe name ${JSON.stringify(info.name)}: ${reason}` });
      continue;
    }
    entries.push(info);
  }
  return { format, entries, rejected };
}

/**
 * NLST gives bare names (RFC 959 §4.1.3); some servers prefix the listed directory ("dir/name"), which we strip —
 * unless a component is "..", which is kept whole so the safety check rejects it.
 */
function nlstEntry(line: string): FtpFileInfo {
  const parts = line.split('/');
  const name = parts.includes('..') || parts[parts.length - 1] === '' ? line : parts[parts.length - 1];
  return {
    name,
    type: 'unknown',
    size: undefined,
    modifiedAt: undefined,
    rawModified: undefined,
    permissions: undefined,
    linkTarget: undefined,
    facts: {},
  };
}
