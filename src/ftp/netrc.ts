// .netrc (the format of ftp(1) and curl --netrc): "machine HOST login USER password PASS [account ACCT]",
// "default ...", and "macdef NAME" blocks (skipped up to the next blank line). Tokens may be double-quoted.

import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface NetrcEntry {
  /** undefined for the `default` entry. */
  readonly machine: string | undefined;
  readonly login: string | undefined;
  readonly password: string | undefined;
  readonly account: string | undefined;
}

export function parseNetrc(text: string): NetrcEntry[] {
  const entries: NetrcEntry[] = [];
  let current: { machine: string | undefined; login?: string; password?: string; account?: string } | undefined;
  const flush = (): void => {
    if (current !== undefined) {
      entries.push({ machine: current.machine, login: current.login, password: current.password, account: current.account });
    }
    current = undefined;
  };
  const lines = text.split(/\r?\n/);
  for (let lineIndex = 0; lineIndex < lines.length; lineIndex++) {
    const tokens = tokenize(lines[lineIndex]);
    for (let i = 0; i < tokens.length; i++) {
      const token = tokens[i];
      if (token === 'machine') {
        flush();
        current = { machine: tokens[++i] };
      } else if (token === 'default') {
        flush();
        current = { machine: undefined };
      } else if (token === 'macdef') {
        flush();
        while (lineIndex + 1 < lines.length && lines[lineIndex + 1].trim() !== '') lineIndex++;
        break;
      } else if (current !== undefined && (token === 'login' || token === 'password' || token === 'account')) {
        const value = tokens[++i];
        if (value !== undefined) current[token] = value;
      }
    }
  }
  flush();
  return entries;
}

/** The entry for `host`, else the `default` entry, else undefined. */
export function findNetrcEntry(entries: readonly NetrcEntry[], host: string): NetrcEntry | undefined {
  return entries.find((e) => e.machine?.toLowerCase() === host.toLowerCase()) ?? entries.find((e) => e.machine === undefined);
}

/** Reads $NETRC or ~/.netrc; undefined if there is none. */
export async function loadNetrc(path = process.env['NETRC'] ?? join(homedir(), '.netrc')): Promise<NetrcEntry[] | undefined> {
  try {
    return parseNetrc(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

function tokenize(line: string): string[] {
  const tokens: string[] = [];
  const pattern = /"((?:[^"\\]|\\.)*)"|(\S+)/g;
  let m: RegExpExecArray | null;
  while ((m = pattern.exec(line)) !== null) {
    if (m[1] !== undefined) tokens.push(m[1].replace(/\\(.)/g, '$1'));
    else if (m[2].startsWith('#') && tokens.length === 0) break; // comment line
    else tokens.push(m[2]);
  }
  return tokens;
}
