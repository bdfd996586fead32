import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

// The published package: `npm pack` builds it (prepack), it installs into an empty directory, and its bin and its
// stage workers run from compiled JavaScript, with no TypeScript loader anywhere.
it('npm pack installs into an empty directory and runs from compiled JavaScript', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ringstack-pack-'));
  try {
    const env = { ...process.env, npm_config_loglevel: 'error', npm_config_fund: 'false', npm_config_audit: 'false' };
    await run('npm', ['pack', '--pack-destination', dir], { cwd: root, env, timeout: 180_000 });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    expect(tarball).toBeDefined();
    const app = join(dir, 'app');
    await run('mkdir', [app]);
    writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', join(dir, tarball!)], { cwd: app, env, timeout: 180_000 });

    const help = await run(join(app, 'node_modules', '.bin', 'ringstack'), ['--help'], { cwd: app, timeout: 30_000 });
    expect(help.stdout + help.stderr).toMatch(/get/);

    // The library from compiled code: stage workers start from .js files (a loader would be needed for .ts).
    writeFileSync(join(app, 'ping.mjs'), `
      import { createMemoryWire, createStack } from 'ringstack';
      const [a, b] = createMemoryWire();
      const A = await createStack({ link: a, address: '198.18.1.1/24', layout: 'single' });
      const B = await createStack({ link: b, address: '198.18.1.2/24', layout: 'single' });
      const rtts = await A.ping('198.18.1.2', { count: 2, intervalMs: 1 });
      const server = B.createServer((s) => s.pipe(s));
      await new Promise((r) => server.listen(7, r));
      const c = A.connect({ host: '198.18.1.2', port: 7 });
      let got = '';
      c.on('data', (d) => (got += d));
      c.end('compiled');
      await new Promise((r) => c.on('end', r));
      console.log(JSON.stringify({ pings: rtts.length, echo: got }));
      await A.close(); await B.close();
    `);
    const { stdout } = await run(process.execPath, ['ping.mjs'], { cwd: app, timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
    expect(JSON.parse(stdout.trim())).toEqual({ pings: 2, echo: 'compiled' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 300_000);
