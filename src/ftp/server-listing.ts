// Directory listings the server writes: LIST in the `ls -l` shape most clients parse (list-unix.ts reads it
// back), MLSD/MLST entries (RFC 3659 §7) and NLST names. Pure functions: the entries and "now" are passed in.

export type ListedType = 'file' | 'dir';

export interface ListedEntry {
  readonly name: string;
  readonly type: ListedType;
  readonly size: number;
  readonly modified: Date;
  /** Unix permission bits (mode & 0o777). */
  readonly mode: number;
  /** In the writable upload area (changes the MLSD `perm` fact). */
  readonly writable: boolean;
}

/** MLST facts this server knows (RFC 3659 §7.5), in the order it writes them. */
export const MLST_FACTS = ['type', 'size', 'modify', 'perm', 'unix.mode'] as const;
export type MlstFact = (typeof MLST_FACTS)[number];

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const HALF_YEAR_MS = 182 * 86_400_000;

const two = (n: number): string => String(n).padStart(2, '0');

/** A time-val (RFC 3659 §2.3): YYYYMMDDHHMMSS in UTC. */
export function formatTimeVal(date: Date): string {
  return `${date.getUTCFullYear()}${two(date.getUTCMonth() + 1)}${two(date.getUTCDate())}` +
    `${two(date.getUTCHours())}${two(date.getUTCMinutes())}${two(date.getUTCSeconds())}`;
}

function permissionString(mode: number): string {
  const bits = 'rwxrwxrwx';
  let out = '';
  for (let i = 0; i < 9; i++) out += mode & (0o400 >> i) ? bits[i] : '-';
  return out;
}

/**
 * One LIST line: `-rw-r--r--    1 ftp      ftp          1024 Jan  5 12:00 name`, the time for dates within half a
 * year before `now` and the year otherwise (as ls does), all in UTC. Owners are not disclosed.
 */
export function formatListLine(entry: ListedEntry, now: Date): string {
  const m = entry.modified;
  const age = now.getTime() - m.getTime();
  const when = age >= -86_400_000 && age < HALF_YEAR_MS ? `${two(m.getUTCHours())}:${two(m.getUTCMinutes())}` : ` ${m.getUTCFullYear()}`;
  const type = entry.type === 'dir' ? 'd' : '-';
  const links = entry.type === 'dir' ? 2 : 1;
  return `${type}${permissionString(entry.mode)} ${String(links).padStart(4)} ftp      ftp      ${String(entry.size).padStart(12)} ` +
    `${MONTHS[m.getUTCMonth()]} ${String(m.getUTCDate()).padStart(2)} ${when.padStart(5)} ${entry.name}`;
}

/** The `perm` fact (RFC 3659 §7.5.5): what this server lets the client do with the entry. */
function permFact(entry: ListedEntry): string {
  if (entry.type === 'dir') return entry.writable ? 'cel' : 'el';
  return entry.writable ? 'adrw' : 'r';
}

/**
 * An MLSD line / MLST entry: `fact=value;…; name`. `kind` overrides the type fact for the listed directory itself
 * (`cdir`) and its parent (`pdir`).
 */
export function formatMlsxEntry(entry: ListedEntry, facts: ReadonlySet<MlstFact>, kind?: 'cdir' | 'pdir'): string {
  let out = '';
  for (const fact of MLST_FACTS) {
    if (!facts.has(fact)) continue;
    switch (fact) {
      case 'type': out += `type=${kind ?? entry.type};`; break;
      case 'size': out += `size=${entry.size};`; break;
      case 'modify': out += `modify=${formatTimeVal(entry.modified)};`; break;
      case 'perm': out += `perm=${permFact(entry)};`; break;
      case 'unix.mode': out += `unix.mode=0${(entry.mode & 0o777).toString(8)};`; break;
    }
  }
  return `${out} ${entry.name}`;
}

/** The FEAT line for MLST: every fact, the selected ones starred. */
export function mlstFeature(selected: ReadonlySet<MlstFact>): string {
  return `MLST ${MLST_FACTS.map((fact) => `${fact}${selected.has(fact) ? '*' : ''};`).join('')}`;
}

/** OPTS MLST fact;fact; → the facts this server knows among them (unknown ones are ignored, RFC 3659 §7.9). */
export function selectMlstFacts(arg: string): Set<MlstFact> {
  const wanted = arg.split(';').map((fact) => fact.trim().toLowerCase());
  return new Set(MLST_FACTS.filter((fact) => wanted.includes(fact)));
}
