import { execFile } from 'node:child_process';
import { chmodSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { describeWithTestbed } from './helpers/testbed.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

// README's first command, as a newcomer runs it: `npm start`, here with a smaller file. As root (CI), it runs as
// the unprivileged user nobody, to show the demo needs no privilege.
it('npm start completes without root and prints the verified report', async () => {
  const home = mkdtempSync(join(tmpdir(), 'ringstack-demo-home-'));
  chmodSync(home, 0o777);
  try {
    const asNobody = process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'] : [];
    let cwd = root;
    if (asNobody.length > 0) {
      // A checkout under a private directory (root's home) is out of nobody's reach: run from a copy, as a user
      // with their own clone would.
      const readable = await run(asNobody[0], [...asNobody.slice(1), 'test', '-r', join(root, 'package.json')]).then(() => true, () => false);
      if (!readable) {
        cwd = join(home, 'ringstack');
        cpSync(root, cwd, { recursive: true, verbatimSymlinks: true, filter: (src) => !src.includes(`${root}.git`) && !src.startsWith(join(root, 'scratch')) });
        await run('chmod', ['-R', 'a+rX', cwd]);
      }
    }
    const argv = [...asNobody, 'npm', 'start', '--', '--size', '32'];
    const { stdout } = await run(argv[0], argv.slice(1), {
      cwd,
      env: { ...process.env, HOME: home, npm_config_cache: join(home, '.npm'), TMPDIR: home },
      timeout: 120_000,
    });
    expect(stdout).toMatch(/fetched 32\.0 MiB in [\d.]+ s/);
    expect(stdout).toMatch(/sha256 [0-9a-f]{64} verified/);
    expect(stdout).toMatch(/client stack \(layout/);
    expect(stdout).toMatch(/tx: +framesOut=\d+/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}, 150_000);

// README's `npm start -- --bed`: the same fetch against vsftpd on the Linux kernel, our stack on AF_PACKET.
// It brings its own bed (rsdemo) up and down.
describeWithTestbed('npm start -- --bed', () => {
  it('fetches the 100 MiB bed file from vsftpd over packet: with 4 connections, verified', async () => {
    const { stdout } = await run('npm', ['start', '--', '--bed'], { cwd: root, timeout: 240_000 });
    expect(stdout).toMatch(/fetched 100\.0 MiB in [\d.]+ s/);
    expect(stdout).toMatch(/sha256 [0-9a-f]{64} verified/);
    expect(stdout).toMatch(/on packet:rsdemo-s0/);
  }, 300_000);
});
