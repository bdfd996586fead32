// LIST output in the `ls -l` format most servers use:
//   -rw-r--r--   1 owner    group        1234 Jan  5 12:00 name
//   drwxr-xr-x   2 owner    group        4096 Jan  5  2020 dir
//   lrwxrwxrwx   1 owner    group           7 Jan  5 12:00 link -> target
// The year is missing for recent files, so the caller passes "now" (the parser reads no clock).

import type { FtpFileInfo, FtpFileType } from './file-info.js';
import { parseDecimal } from './numbers.js';

// Anchored, with bounded owner/group repetition: an unparseable line costs linear time (basic-ftp's lesson: an
// unbounded pattern here lets a server stall the event loop with one long line).
const UNIX_LINE = new RegExp(
  '^([bcdlps-])' + // type
    '([rwxsStTL-]{9})[+@.]?' + // permissions, optional ACL/xattr marker
    '\\s+(\\d+)' + // link count
    '\\s+(?:(\\S+(?:\\s\\S+){0,3}?)\\s+)??' + // owner (may be absent)
    '(?:(\\S+)\\s+)?' + // group (may be absent)
    '(\\d{1,16})' + // size
    '\\s+(\\S{3})\\s+(\\d{1,2})' + // month day
    '\\s+(\\d{4}|\\d{1,2}:\\d{2})' + // year or time
    ' (.+)$', // name (everything left; spaces allowed)
  's', // '.' matches CR too, so a name with a CR is seen whole (and rejected by the caller)
);

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

export function isUnixListLine(line: string): boolean {
  return UNIX_LINE.test(line);
}

/** Parses one unix LIST line, or returns undefined if it is not one. `now` resolves year-less dates. */
export function parseUnixListLine(line: string, now: Date): FtpFileInfo | undefined {
  const m = UNIX_LINE.exec(line);
  if (m === null) return undefined;
  const [, typeChar, permissions, , , , sizeText, monthText, dayText, yearOrTime, rest] = m;
  let type: FtpFileType = 'unknown';
  if (typeChar === '-') type = 'file';
  else if (typeChar === 'd') type = 'directory';
  else if (typeChar === 'l') type = 'symlink';
  let name = rest;
  let linkTarget: string | undefined;
  if (type === 'symlink') {
    const arrow = rest.indexOf(' -> ');
    if (arrow !== -1) {
      name = rest.slice(0, arrow);
      linkTarget = rest.slice(arrow + 4);
    }
  }
  const rawModified = `${monthText} ${dayText} ${yearOrTime}`;
  return {
    name,
    type,
    size: parseDecimal(sizeText, 'LIST size'),
    modifiedAt: unixListDate(monthText, Number(dayText), yearOrTime, now),
    rawModified,
    permissions,
    linkTarget,
    facts: {},
  };
}

/** `ls` shows "Mon dd hh:mm" for files from the last six months, so the year is the one that is not in the future. */
function unixListDate(monthText: string, day: number, yearOrTime: string, now: Date): Date | undefined {
  const month = MONTHS.indexOf(monthText.toLowerCase());
  if (month === -1 || day < 1 || day > 31) return undefined;
  if (!yearOrTime.includes(':')) return new Date(Date.UTC(Number(yearOrTime), month, day));
  const [h, mi] = yearOrTime.split(':').map(Number);
  if (h > 23 || mi > 59) return undefined;
  let year = now.getUTCFullYear();
  let date = new Date(Date.UTC(year, month, day, h, mi));
  // Allow a day of clock skew before deciding the date belongs to last year.
  if (date.getTime() > now.getTime() + 86_400_000) {
    year -= 1;
    date = new Date(Date.UTC(year, month, day, h, mi));
  }
  return date;
}
