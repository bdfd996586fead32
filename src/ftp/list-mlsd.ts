// MLSD / MLST entries (RFC 3659 §7): "fact=value;fact=value; name". Fact names are case-insensitive; the name is
// everything after the first space and may itself contain spaces and semicolons.

import { FtpError } from './errors.js';
import type { FtpFileInfo, FtpFileType } from './file-info.js';
import { parseDecimal, parseTimeVal } from './numbers.js';

export interface MlsdEntry {
  readonly info: FtpFileInfo;
  /** `cdir`/`pdir` entries (the listed directory itself and its parent) are flagged, not dropped. */
  readonly selfOrParent: boolean;
}

/** Parses one MLSD line. Throws FtpError('protocol') if the line has no facts/name separator. */
export function parseMlsdLine(line: string): MlsdEntry {
  const space = line.indexOf(' ');
  if (space === -1) throw new FtpError('protocol', `MLSD line without a name: ${JSON.stringify(line.slice(0, 80))}`);
  const name = line.slice(space + 1);
  const facts: Record<string, string> = {};
  for (const fact of line.slice(0, space).split(';')) {
    if (fact === '') continue;
    const eq = fact.indexOf('=');
    if (eq <= 0) throw new FtpError('protocol', `MLSD fact without a value: ${JSON.stringify(fact.slice(0, 80))}`);
    facts[fact.slice(0, eq).toLowerCase()] = fact.slice(eq + 1);
  }
  const typeFact = (facts['type'] ?? '').toLowerCase();
  let type: FtpFileType = 'unknown';
  if (typeFact === 'file') type = 'file';
  else if (typeFact === 'dir' || typeFact === 'cdir' || typeFact === 'pdir') type = 'directory';
  else if (typeFact === 'os.unix=symlink' || typeFact === 'os.unix=slink' || typeFact.startsWith('os.unix=slink:')) {
    type = 'symlink';
  }
  const sizeFact = facts['size'] ?? facts['sizd'];
  const rawModified = facts['modify'];
  const info: FtpFileInfo = {
    name,
    type,
    size: sizeFact === undefined ? undefined : parseDecimal(sizeFact, 'MLSD size fact'),
    modifiedAt: rawModified === undefined ? undefined : parseTimeVal(rawModified),
    rawModified,
    permissions: facts['unix.mode'] ?? facts['perm'],
    linkTarget: typeFact.startsWith('os.unix=slink:') ? facts['type'].slice('os.unix=slink:'.length) : undefined,
    facts,
  };
  return { info, selfOrParent: typeFact === 'cdir' || typeFact === 'pdir' };
}

/**
 * The entry in an MLST reply (RFC 3659 §7.2): a 250 multi-line reply whose middle line starts with one space.
 * `lines` are the reply's lines including the first and last.
 */
export function parseMlstReply(lines: readonly string[]): FtpFileInfo {
  const entryLine = lines.slice(1, -1).find((line) => line.startsWith(' '));
  if (entryLine === undefined) throw new FtpError('protocol', 'MLST reply has no entry line');
  return parseMlsdLine(entryLine.slice(1)).info;
}
