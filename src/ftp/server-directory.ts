// Reading the served tree for listings: entries with their stat facts, sorted by name. Symbolic links are shown
// as what they point to when that stays inside the area, and left out otherwise (as are dangling links and names
// no listing line can carry, such as one containing CR or LF).

import { opendir, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { sep } from 'node:path';
import type { ListedEntry } from './server-listing.js';
import type { ResolvedPath, ServedTree } from './server-paths.js';
import { unsafeNameReason } from './safe-name.js';

/** The entry for `path` itself, named `name`. */
export function entryOf(name: string, stats: Stats, writable: boolean): ListedEntry {
  return {
    name,
    type: stats.isDirectory() ? 'dir' : 'file',
    size: stats.isDirectory() ? 0 : stats.size,
    modified: stats.mtime,
    mode: stats.mode & 0o777,
    writable,
  };
}

/** The entries of directory `dir`, at most `maxEntries` (more are left out: a listing must stay bounded). */
export async function readEntries(tree: ServedTree, dir: ResolvedPath, maxEntries: number): Promise<ListedEntry[]> {
  const entries: ListedEntry[] = [];
  const writable = dir.area === 'upload';
  const handle = await opendir(dir.real, { bufferSize: 128 });
  for await (const dirent of handle) {
    if (entries.length >= maxEntries) break;
    if (unsafeNameReason(dirent.name) !== undefined) continue;
    let path = `${dir.real}${dir.real.endsWith(sep) ? '' : sep}${dirent.name}`;
    if (dirent.isSymbolicLink()) {
      const target = await tree.linkTarget(path, dir.area);
      if (target === undefined) continue;
      path = target;
    } else if (!dirent.isFile() && !dirent.isDirectory()) {
      continue; // sockets, FIFOs, devices: nothing to transfer
    }
    try {
      const stats = await stat(path);
      if (stats.isFile() || stats.isDirectory()) entries.push(entryOf(dirent.name, stats, writable));
    } catch {
      // removed while listing
    }
  }
  // The upload directory appears in the root under its name, replacing anything the root has there.
  if (dir.area === 'root' && dir.virtual === '/' && tree.uploadName !== undefined && tree.uploadReal !== undefined) {
    const index = entries.findIndex((entry) => entry.name === tree.uploadName);
    const mount = entryOf(tree.uploadName, await stat(tree.uploadReal), true);
    if (index === -1) entries.push(mount);
    else entries[index] = mount;
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
