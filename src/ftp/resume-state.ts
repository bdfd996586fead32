// The resume state of a download: which byte ranges of the target are still missing. Written next to the
// target (atomically: temp file + rename) while a download runs and kept when it stops early, so a later run
// fetches only what is missing. It only ever lists bytes as done after they were written.

import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { FtpError } from './errors.js';

export interface ByteRange {
  readonly start: number;
  readonly end: number; // exclusive
}

export interface ResumeState {
  readonly version: 1;
  /** Identifies the remote file: a state made for another file, size or modification time is not used. */
  readonly source: string;
  readonly size: number;
  readonly modified: string | null;
  readonly remaining: readonly ByteRange[];
}

export function resumeStatePath(localPath: string): string {
  return `${localPath}.ringstack-resume`;
}

/** Reads a state file; undefined if there is none. A corrupt file is an error (it is not silently ignored). */
export async function readResumeState(path: string): Promise<ResumeState | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new FtpError('usage', `resume state ${path} is not JSON; delete it to start over`);
  }
  if (!isResumeState(value)) throw new FtpError('usage', `resume state ${path} is malformed; delete it to start over`);
  return value;
}

export async function writeResumeState(path: string, state: ResumeState): Promise<void> {
  const temporary = `${path}.tmp`;
  await writeFile(temporary, `${JSON.stringify(state)}\n`);
  await rename(temporary, path);
}

export async function removeResumeState(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(`${path}.tmp`, { force: true });
}

function isResumeState(value: unknown): value is ResumeState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  if (v['version'] !== 1 || typeof v['source'] !== 'string' || !Number.isSafeInteger(v['size'])) return false;
  if (v['modified'] !== null && typeof v['modified'] !== 'string') return false;
  const size = v['size'] as number;
  const remaining = v['remaining'];
  if (!Array.isArray(remaining)) return false;
  return remaining.every((range: unknown) => {
    if (typeof range !== 'object' || range === null) return false;
    const { start, end } = range as Record<string, unknown>;
    return Number.isSafeInteger(start) && Number.isSafeInteger(end) && (start as number) >= 0 &&
      (start as number) < (end as number) && (end as number) <= size;
  });
}
