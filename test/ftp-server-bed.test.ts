// `ringstack serve` fetched by the kernel-side clients curl, lftp and wget over a veth: passive and active, equal
// sha256, an upload, and path-escape attempts refused. Twice: on our stack (packet: in the stack namespace, the
// kernel's clients in the peer namespace) and with --kernel (in the peer namespace, clients in the kernel-client
// namespace). Root only (namespaces); skipped with a visible reason otherwise.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeWithTestbed, execInNamespace, testbedName, useTestbed } from './helpers/testbed.js';

const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');
const USER = { name: 'bob', password: 'bed-pass' };

for (const onStack of [true, false]) describeWithTestbed(`ringstack serve${onStack ? ' on our stack' : ' --kernel'}, fetched by curl, lftp and wget`, () => {
  const bed = useTestbed({ name: testbedName(onStack ? 'fsrs' : 'fsrv'), files: 'small' });
  /** Where the server runs, where the kernel's clients run, the address they dial and the one active mode offers. */
  const where = () => {
    const b = bed();
    return onStack
      ? { serverNs: b.namespaces.stack, clientNs: b.namespaces.peer, serverIp: b.stackLink.stackIp, clientIp: b.stackLink.peerIp,
        transport: ['--link', `packet:${b.stackLink.stackIf}`, '--ip', `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`, '--host', b.stackLink.stackIp] }
      : { serverNs: b.namespaces.peer, clientNs: b.namespaces.kclient, serverIp: b.kclientLink.peerIp, clientIp: b.kclientLink.clientIp,
        transport: ['--kernel', '--host', '0.0.0.0'] };
  };
  let dir = '';
  let server: ChildProcess | undefined;
  let serverExit: Promise<number | null> | undefined;
  let stderr = '';
  let port = 0;

  beforeAll(async () => {
    const { files } = bed();
    dir = await mkdtemp(join(tmpdir(), 'ringstack-serve-bed-'));
    const root = join(dir, 'root');
    await mkdir(root);
    await mkdir(join(dir, 'upload'));
    await mkdir(join(dir, 'outside'));
    for (const file of files) await copyFile(file.path, join(root, file.name));
    await writeFile(join(dir, 'outside', 'secret.txt'), 'not for you\n');
    await symlink(join(dir, 'outside'), join(root, 'escape'));
    await symlink(join(dir, 'outside', 'secret.txt'), join(root, 'secret-link'));
    const child = spawn('ip', ['netns', 'exec', where().serverNs, process.execPath, '--import', tsxLoader, cliPath, 'serve', root,
      ...where().transport, '--port', '0', '--upload', join(dir, 'upload'), '--user', `${USER.name}:${USER.password}`, '--json', '--verbose'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
    server = child;
    serverExit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let stdout = '';
    port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
      child.stdout.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        const line = stdout.split('\n')[0];
        if (stdout.includes('\n')) {
          clearTimeout(timer);
          resolve((JSON.parse(line) as { port: number }).port);
        }
      });
      child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${stderr}`)));
    });
  }, 60_000);

  afterAll(async () => {
    // Stop exactly the process we started (ip netns exec execs node: the PID is the server's).
    if (server?.pid !== undefined && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGTERM');
      const exited = await Promise.race([serverExit, new Promise((resolve) => setTimeout(() => resolve('timeout'), 5000))]);
      if (exited === 'timeout') server.kill('SIGKILL');
      else expect(exited).toBe(0); // a clean stop: every session ended
    }
    if (dir !== '') await rm(dir, { recursive: true, force: true });
  }, 30_000);

  async function client(argv: string[], check = true): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
    const result = await execInNamespace(where().clientNs, argv, { timeoutMs: 30_000, check: false });
    if (check) expect(result.code, `${argv.join(' ')}: ${result.stderr}\nserver: ${stderr.slice(-3000)}`).toBe(0);
    return result;
  }

  const url = (path: string, user = '') => `ftp://${user}${where().serverIp}:${port}/${path}`;
  const lftp = (passive: boolean, commands: string) => [
    'lftp', '-c',
    `set ftp:passive-mode ${passive ? 'on' : 'off'}; set net:max-retries 1; set net:timeout 10; set xfer:clobber on; ` +
      `open -p ${port} ${where().serverIp}; ${commands}`,
  ];

  it('curl: every small file, passive and active, with equal sha256; listing; resume', async () => {
    const { files } = bed();
    for (const file of files) {
      const passive = await client(['curl', '-sS', '--max-time', '20', url(file.name)]);
      expect(sha256(passive.stdout), `${file.name} passive`).toBe(file.sha256);
      const active = await client(['curl', '-sS', '--max-time', '20', '-P', where().clientIp, url(file.name)]);
      expect(sha256(active.stdout), `${file.name} active`).toBe(file.sha256);
    }
    const listing = (await client(['curl', '-sS', '--max-time', '20', url('')])).stdout.toString();
    for (const file of files) expect(listing).toMatch(new RegExp(` ${file.name}\\r?\\n`));
    expect(listing).not.toMatch(/escape|secret/); // links out of the root are not shown
    const big = files.find((f) => f.name === '1MiB')!;
    const tail = await client(['curl', '-sS', '--max-time', '20', '-C', '1000000', url('1MiB')]);
    expect(tail.stdout.equals((await readFile(big.path)).subarray(1_000_000))).toBe(true);
  });

  it('lftp: passive and active with equal sha256, and a user upload', async () => {
    const { files } = bed();
    const big = files.find((f) => f.name === '1MiB')!;
    for (const passive of [true, false]) {
      const out = await client(lftp(passive, 'cat 1MiB'));
      expect(sha256(out.stdout), passive ? 'passive' : 'active').toBe(big.sha256);
    }
    const put = await client(['lftp', '-c',
      `set net:max-retries 1; set net:timeout 10; open -u ${USER.name},${USER.password} -p ${port} ${where().serverIp}; ` +
        `cd upload; put ${big.path} -o lftp-up.bin`]);
    expect(put.code).toBe(0);
    expect(sha256(await readFile(join(dir, 'upload', 'lftp-up.bin')))).toBe(big.sha256);
  });

  it('wget: passive and active with equal sha256', async () => {
    const { files } = bed();
    for (const file of files.filter((f) => f.size > 0)) {
      const passive = await client(['wget', '-q', '-O', '-', '--timeout=10', '--tries=1', url(file.name)]);
      expect(sha256(passive.stdout), `${file.name} passive`).toBe(file.sha256);
      const active = await client(['wget', '-q', '-O', '-', '--timeout=10', '--tries=1', '--no-passive-ftp', url(file.name)]);
      expect(sha256(active.stdout), `${file.name} active`).toBe(file.sha256);
    }
  });

  it('path-escape attempts are refused and nothing outside the root is sent', async () => {
    for (const path of ['escape/secret.txt', 'secret-link', '../outside/secret.txt', '../../../etc/passwd']) {
      const curl = await client(['curl', '-sS', '--max-time', '20', '--path-as-is', url(path)], false);
      expect(curl.code, `curl ${path}`).not.toBe(0);
      expect(curl.stdout.length, `curl ${path}`).toBe(0);
    }
    const lftpOut = await client(lftp(true, 'cat escape/secret.txt'), false);
    expect(lftpOut.code).not.toBe(0);
    expect(lftpOut.stdout.toString()).not.toContain('not for you');
    const wgetOut = await client(['wget', '-q', '-O', '-', '--timeout=10', '--tries=1', url('secret-link')], false);
    expect(wgetOut.code).not.toBe(0);
    expect(wgetOut.stdout.toString()).not.toContain('not for you');
    expect(stderr).toMatch(/< 550 .*(refused, it leads outside|no such file)/);
  });
});
