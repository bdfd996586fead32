// The file tree a server shows: a read-only root and, optionally, a writable upload directory mounted at one name
// below the root ("/upload"). Client paths are virtual: joined to the working directory and normalised with ".."
// stopping at "/", so "../../etc/passwd" is "/etc/passwd" inside the root. Every real path is then resolved with
// realpath and must stay inside its area: a symbolic link pointing out of the root is refused like a missing file.

import { constants } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import { sep } from 'node:path';
import { unsafeNameReason } from './safe-name.js';
import { FtpReplyError } from './server-reply.js';

export type Area = 'root' | 'upload';

export interface ResolvedPath {
  /** Normalised virtual path, "/" for the root. */
  readonly virtual: string;
  /** The real path after resolving every symbolic link; inside the area's directory. */
  readonly real: string;
  readonly area: Area;
}

/** Joins `arg` to `cwd` and normalises; ".." never goes above "/". */
export function joinVirtual(cwd: string, arg: string): string {
  const parts = (arg.startsWith('/') ? arg : `${cwd}/${arg}`).split('/');
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}

/** The last component of a virtual path ("" for "/"). */
export function baseName(virtual: string): string {
  return virtual.slice(virtual.lastIndexOf('/') + 1);
}

/** The parent of a virtual path ("/" for "/"). */
export function parentOf(virtual: string): string {
  const slash = virtual.lastIndexOf('/');
  return slash <= 0 ? '/' : virtual.slice(0, slash);
}

/** Opening flags for an upload: never follow a symbolic link at the last component. */
export const UPLOAD_OPEN_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW;

export class ServedTree {
  private constructor(
    readonly rootReal: string,
    readonly uploadReal: string | undefined,
    /** The upload directory's name in the root ("upload" → "/upload"). */
    readonly uploadName: string | undefined,
  ) {}

  /** Resolves both directories once; throws a plain Error naming what is wrong with either. */
  static async open(root: string, upload?: { dir: string; name: string } | undefined): Promise<ServedTree> {
    const rootReal = await directory(root, 'root');
    if (upload === undefined) return new ServedTree(rootReal, undefined, undefined);
    const reason = unsafeNameReason(upload.name);
    if (reason !== undefined) throw new Error(`upload name ${JSON.stringify(upload.name)}: ${reason}`);
    return new ServedTree(rootReal, await directory(upload.dir, 'upload'), upload.name);
  }

  /** The virtual path of the upload directory, if there is one. */
  get uploadPath(): string | undefined {
    return this.uploadName === undefined ? undefined : `/${this.uploadName}`;
  }

  /** Which area a (normalised) virtual path belongs to, and its real path before resolving links. */
  locate(virtual: string): { area: Area; path: string; base: string } {
    const mount = this.uploadPath;
    if (mount !== undefined && this.uploadReal !== undefined && (virtual === mount || virtual.startsWith(`${mount}/`))) {
      return { area: 'upload', path: this.uploadReal + virtual.slice(mount.length), base: this.uploadReal };
    }
    return { area: 'root', path: virtual === '/' ? this.rootReal : this.rootReal + virtual, base: this.rootReal };
  }

  /** An existing path: 550 if it does not exist or resolves outside its area. */
  async resolveExisting(virtual: string): Promise<ResolvedPath> {
    const { area, path, base } = this.locate(virtual);
    let real: string;
    try {
      real = await realpath(path);
    } catch {
      throw new FtpReplyError(550, `${virtual}: no such file or directory`);
    }
    if (!inside(real, base)) throw new FtpReplyError(550, `${virtual}: refused, it leads outside the served directory`);
    return { virtual, real, area };
  }

  /**
   * A file to create or replace in the upload area: its directory must exist inside the area and its name must be
   * a safe single component. The caller opens it with UPLOAD_OPEN_FLAGS, so a link planted there is not followed.
   */
  async resolveNew(virtual: string): Promise<ResolvedPath> {
    const { area } = this.locate(virtual);
    if (area !== 'upload' || virtual === this.uploadPath) {
      throw new FtpReplyError(550, `${virtual}: permission denied (uploads go to ${this.uploadPath ?? 'nowhere: this server is read-only'})`);
    }
    const name = baseName(virtual);
    const reason = unsafeNameReason(name);
    if (reason !== undefined) throw new FtpReplyError(553, `file name not allowed: ${reason}`);
    const parent = await this.resolveExisting(parentOf(virtual));
    if (parent.area !== 'upload' || !(await stat(parent.real)).isDirectory()) {
      throw new FtpReplyError(550, `${parentOf(virtual)}: not a directory`);
    }
    return { virtual, real: `${parent.real}${sep}${name}`, area };
  }

  /** A symbolic link met while listing `dirReal`: its target, or undefined when it leads outside `area`. */
  async linkTarget(linkReal: string, area: Area): Promise<string | undefined> {
    try {
      const real = await realpath(linkReal);
      return inside(real, area === 'upload' ? (this.uploadReal as string) : this.rootReal) ? real : undefined;
    } catch {
      return undefined; // dangling
    }
  }
}

function inside(real: string, base: string): boolean {
  return real === base || real.startsWith(base.endsWith(sep) ? base : base + sep);
}

async function directory(path: string, what: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(path);
  } catch (error) {
    throw new Error(`${what} directory ${path}: ${(error as Error).message}`);
  }
  if (!(await stat(real)).isDirectory()) throw new Error(`${what} directory ${path} is not a directory`);
  return real;
}
