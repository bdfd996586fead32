import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);
export const repositoryRoot = fileURLToPath(new URL('../..', import.meta.url));

/** setpriv arguments that drop to the user nobody with no capabilities, or with exactly `caps` (e.g. ['net_raw']). */
export function asNobody(caps: readonly string[] = []): string[] {
  const ambient = caps.map((c) => `+${c}`).join(',');
  return ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups',
    ...(caps.length ? [`--inh-caps=-all,${ambient}`, `--ambient-caps=${ambient}`] : ['--inh-caps=-all'])];
}

/**
 * A home directory nobody may write, and a checkout nobody may read: this one, or — when it sits under a private
 * directory (root's home, as in CI) — a copy of it, as a user with their own clone would have. `dispose` removes both.
 */
export async function unprivilegedWorkspace(): Promise<{ home: string; cwd: string; dispose(): void }> {
  const home = mkdtempSync(join(tmpdir(), 'ringstack-nobody-'));
  chmodSync(home, 0o777);
  let cwd = repositoryRoot;
  if (process.getuid?.() !== 0) return { home, cwd, dispose: () => rmSync(home, { recursive: true, force: true }) };
  const readable = await run(asNobody()[0], [...asNobody().slice(1), 'test', '-r', join(repositoryRoot, 'package.json')]).then(() => true, () => false);
  if (!readable) {
    cwd = join(home, 'ringstack');
    cpSync(repositoryRoot, cwd, {
      recursive: true, verbatimSymlinks: true,
      filter: (src) => !src.startsWith(join(repositoryRoot, '.git')) && !src.startsWith(join(repositoryRoot, 'scratch')),
    });
    await run('chmod', ['-R', 'a+rX', cwd]);
  }
  return { home, cwd, dispose: () => rmSync(home, { recursive: true, force: true }) };
}
