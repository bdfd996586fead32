// LIST output in the MS-DOS/IIS format:
//   01-15-20  03:45PM       <DIR>          dir name
//   01-15-2020  15:45            1234 file.txt

import type { FtpFileInfo } from './file-info.js';
import { parseDecimal } from './numbers.js';

const DOS_LINE = /^(\d{2})-(\d{2})-(\d{2}|\d{4})\s+(\d{1,2}):(\d{2})\s*([AP]M)?\s+(?:(<DIR>)|(\d{1,16}))\s+(\S.*)$/is;

export function isDosListLine(line: string): boolean {
  return DOS_LINE.test(line);
}

/** Parses one DOS LIST line, or returns undefined if it is not one. Times are taken as UTC (the server's zone is unknown). */
export function parseDosListLine(line: string): FtpFileInfo | undefined {
  const m = DOS_LINE.exec(line);
  if (m === null) return undefined;
  const [, mm, dd, yy, hh, mi, ampm, dir, sizeText, name] = m;
  let year = Number(yy);
  // Two-digit years: 70–99 are 19xx, 00–69 are 20xx (the POSIX strptime pivot).
  if (yy.length === 2) year += year < 70 ? 2000 : 1900;
  let hour = Number(hh);
  if (ampm !== undefined) {
    if (hour < 1 || hour > 12) return undefined;
    hour = (hour % 12) + (ampm.toUpperCase() === 'PM' ? 12 : 0);
  }
  const month = Number(mm) - 1;
  const day = Number(dd);
  const date = new Date(Date.UTC(year, month, day, hour, Number(mi)));
  const valid = date.getUTCMonth() === month && date.getUTCDate() === day && hour < 24 && Number(mi) < 60;
  return {
    name,
    type: dir === undefined ? 'file' : 'directory',
    size: dir === undefined ? parseDecimal(sizeText, 'LIST size') : undefined,
    modifiedAt: valid ? date : undefined,
    rawModified: `${mm}-${dd}-${yy} ${hh}:${mi}${ampm ?? ''}`,
    permissions: undefined,
    linkTarget: undefined,
    facts: {},
  };
}
