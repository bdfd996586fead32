import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { describeWithTestbed } from './helpers/testbed.js';
import { asNobody, unprivilegedWorkspace } from './helpers/unprivileged.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

// README's first command, as a newcomer runs it: `npm start`, here with a smaller file. As root (CI), it runs as
// the unprivileged user nobody, to show the demo needs no privilege.
it('npm start completes without root and prints the verified report', async () => {
  const workspace = await unprivilegedWorkspace();
  const { home, cwd } = workspace;
  try {
    const asUser = process.getuid?.() === 0 ? asNobody() : [];
    const argv = [...asUser, 'npm', 'start', '--', '--size', '32'];
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
    workspace.dispose();
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
