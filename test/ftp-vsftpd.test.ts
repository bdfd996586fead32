// The CLI (`ringstack get/put --kernel`) against the real vsftpd of the test bed, from the bed's kernel-client
// namespace. Root only (namespaces); skipped with a visible reason otherwise.

import { expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeWithTestbed, execInNamespace, testbedName, useTestbed } from './helpers/testbed.js';

const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

interface GetSummary {
  bytes: number;
  sha256: string;
  segments: number;
  ranges: number;
}

describeWithTestbed('ringstack get/put --kernel against vsftpd', () => {
  const bed = useTestbed({ name: testbedName('ftpc'), files: 'small' });

  async function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const { namespaces } = bed();
    const result = await execInNamespace(namespaces.kclient, [process.execPath, '--import', tsxLoader, cliPath, ...args, '--kernel', '--timeout', '10'], {
      timeoutMs: 60_000,
      check: false,
    });
    return { code: result.code, stdout: result.stdout.toString(), stderr: result.stderr };
  }

  async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'ringstack-vsftpd-'));
    try {
      return await body(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  async function getAndCheck(url: string, file: { name: string; sha256: string; size: number }, extra: string[] = []): Promise<GetSummary> {
    return withDir(async (dir) => {
      const out = join(dir, file.name);
      const result = await cli(['get', url, '-o', out, '--json', ...extra]);
      expect(result.stderr).not.toMatch(/password|[0-9a-f]{24}/i);
      expect(result.code, result.stderr).toBe(0);
      const summary = JSON.parse(result.stdout) as GetSummary;
      expect(summary.bytes).toBe(file.size);
      expect(summary.sha256).toBe(file.sha256);
      expect(sha256(await readFile(out))).toBe(file.sha256);
      return summary;
    });
  }

  it('passive and active, anonymous: every small file with equal sha256', async () => {
    const { kclientLink, files } = bed();
    for (const file of files) {
      await getAndCheck(`ftp://${kclientLink.peerIp}/${file.name}`, file);
      await getAndCheck(`ftp://${kclientLink.peerIp}/${file.name}`, file, ['--active']);
    }
  });

  it('user login, upload and re-download (passive and active)', async () => {
    const { kclientLink, ftp } = bed();
    const base = `ftp://${ftp.user}:${encodeURIComponent(ftp.password)}@${kclientLink.peerIp}`;
    await withDir(async (dir) => {
      const data = randomBytes(700_000);
      const local = join(dir, 'up.bin');
      await writeFile(local, data);
      const put = await cli(['put', local, `${base}${ftp.userDir}/`, '--json']);
      expect(put.code, put.stderr).toBe(0);
      expect(put.stdout).not.toContain(ftp.password);
      expect(sha256(await readFile(join(ftp.userUploadDir, 'up.bin')))).toBe(sha256(data));
      const file = { name: 'up.bin', size: data.length, sha256: sha256(data) };
      await getAndCheck(`${base}${ftp.userDir}/up.bin`, file);
      await getAndCheck(`${base}${ftp.userDir}/up.bin`, file, ['--active']);
    });
  });

  it('explicit FTPS with session reuse required: get and put', async () => {
    const { kclientLink, ftp, files } = bed();
    const base = `ftp://${ftp.user}:${encodeURIComponent(ftp.password)}@${kclientLink.peerIp}:${ftp.ftpsPort}`;
    // The bed's self-signed certificate names no IP address, so it cannot be verified for 198.18.2.1: --insecure.
    const tls = ['--tls', '--insecure'];
    const big = files.find((f) => f.name === '1MiB');
    expect(big).toBeDefined();
    await getAndCheck(`ftp://${kclientLink.peerIp}:${ftp.ftpsPort}/1MiB`, big!, tls);
    await getAndCheck(`ftp://${kclientLink.peerIp}:${ftp.ftpsPort}/1MiB`, big!, [...tls, '--active']);
    await withDir(async (dir) => {
      const data = randomBytes(300_000);
      const local = join(dir, 'tls-up.bin');
      await writeFile(local, data);
      const put = await cli(['put', local, `${base}${ftp.userDir}/`, '--json', ...tls]);
      expect(put.code, put.stderr).toBe(0);
      await getAndCheck(`${base}${ftp.userDir}/tls-up.bin`, { name: 'tls-up.bin', size: data.length, sha256: sha256(data) }, tls);
    });
    // Without --insecure the unverifiable certificate is refused (exit 3: connection).
    const refused = await cli(['get', `ftp://${kclientLink.peerIp}:${ftp.ftpsPort}/1MiB`, '-o', '/dev/null', '--tls']);
    expect(refused.code).toBe(3);
    expect(refused.stderr).toMatch(/TLS handshake failed/);
  });

  it('segmented download over 4 connections', async () => {
    const { kclientLink, files } = bed();
    const big = files.find((f) => f.name === '1MiB')!;
    const summary = await getAndCheck(`ftp://${kclientLink.peerIp}/1MiB`, big, ['--segments', '4', '--min-segment', '65536']);
    expect(summary.segments).toBe(4);
    expect(summary.ranges).toBeGreaterThanOrEqual(4);
  });

  it('exit codes scripts can trust', async () => {
    const { kclientLink, ftp } = bed();
    const missing = await cli(['get', `ftp://${kclientLink.peerIp}/no-such-file`, '-o', '/dev/null']);
    expect([missing.code, missing.stderr]).toEqual([4, expect.stringMatching(/550/)]);
    const badLogin = await cli(['get', `ftp://${ftp.user}:wrong-pw@${kclientLink.peerIp}/x`, '-o', '/dev/null']);
    expect(badLogin.code).toBe(4);
    expect(badLogin.stderr).toMatch(/login failed/);
    expect(badLogin.stderr).not.toContain('wrong-pw');
  });
});
