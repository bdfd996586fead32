import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { describeWithTestbed, testbedName, useTestbed } from './helpers/testbed.js';
import { readPcap } from './pcap-reader.js';

const run = promisify(execFile);
const cli = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));

// `ringstack get/ls/put` on our stack (no --kernel), as a user runs them: inside the stack's namespace, on
// packet:IF, against vsftpd on the Linux kernel (the bed, docs/TESTBED.md).
describeWithTestbed('ringstack get/ls/put on our stack against vsftpd', () => {
  const bed = useTestbed({ name: testbedName('rc'), files: 'small' });
  const dir = mkdtempSync(join(tmpdir(), 'ringstack-cli-stack-'));
  chmodSync(dir, 0o755);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function ringstack(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const b = bed();
    const argv = ['netns', 'exec', b.namespaces.stack, process.execPath, '--import', 'tsx', cli, ...args,
      '--link', `packet:${b.stackLink.stackIf}`, '--ip', `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`];
    try {
      const { stdout, stderr } = await run('ip', argv, { timeout: 60_000 });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('gets every small file, passive and active, with equal sha256, and lists the directory', async () => {
    const b = bed();
    for (const file of b.files.filter((f) => f.size <= 1 << 20)) {
      for (const mode of [[], ['--active']]) {
        const out = join(dir, `${file.name}${mode.length}`);
        const r = await ringstack('get', `ftp://${b.stackLink.peerIp}/${file.name}`, '-o', out, '--json', ...mode);
        expect(r.code, r.stderr).toBe(0);
        expect(JSON.parse(r.stdout)).toMatchObject({ transport: 'ringstack', bytes: file.size, sha256: file.sha256 });
      }
    }
    const ls = await ringstack('ls', `ftp://${b.stackLink.peerIp}/`);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(/1MiB/);
  });

  it('explicit FTPS on our stack: node:tls over our sockets, data connections resuming the session (vsftpd requires it)', async () => {
    const b = bed();
    const file = b.files.find((f) => f.name === '1MiB')!;
    for (const mode of [[], ['--active']]) {
      const r = await ringstack('get', `ftp://${b.stackLink.peerIp}:${b.ftp.ftpsPort}/1MiB`, '-o', join(dir, `tls${mode.length}`), '--tls', '--insecure', '--json', ...mode);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toMatchObject({ transport: 'ringstack', sha256: file.sha256 });
    }
  });

  it('downloads over 4 connections, uploads as the user and downloads it back', async () => {
    const b = bed();
    const file = b.files.find((f) => f.name === '1MiB')!;
    const seg = await ringstack('get', `ftp://${b.stackLink.peerIp}/1MiB`, '-o', join(dir, 'seg'), '--json', '--segments', '4', '--min-segment', '65536');
    expect(seg.code, seg.stderr).toBe(0);
    expect(JSON.parse(seg.stdout)).toMatchObject({ sha256: file.sha256, segments: 4 });
    const local = join(dir, 'up.bin');
    writeFileSync(local, Buffer.alloc(300_000, 0x5a));
    const auth = `${b.ftp.user}:${b.ftp.password}@${b.stackLink.peerIp}`;
    const put = await ringstack('put', local, `ftp://${auth}${b.ftp.userDir}/up.bin`, '--json');
    expect(put.code, put.stderr).toBe(0);
    const back = await ringstack('get', `ftp://${auth}${b.ftp.userDir}/up.bin`, '-o', join(dir, 'back.bin'), '--json');
    expect(back.code, back.stderr).toBe(0);
    expect(readFileSync(join(dir, 'back.bin')).equals(readFileSync(local))).toBe(true);
  });

  it('uploads in TCP super-segments the kernel cuts (TSO) by default, and in MTU-sized frames with --offloads off', async () => {
    const b = bed();
    const local = join(dir, 'tso.bin');
    const bytes = Buffer.alloc(2 << 20);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    writeFileSync(local, bytes);
    const auth = `${b.ftp.user}:${b.ftp.password}@${b.stackLink.peerIp}`;
    const largest: Record<string, number> = {};
    for (const offloads of ['on', 'off']) {
      const pcap = join(dir, `tso-${offloads}.pcap`);
      const put = await ringstack('put', local, `ftp://${auth}${b.ftp.userDir}/tso-${offloads}.bin`, '--json', '--offloads', offloads, '--pcap', pcap);
      expect(put.code, put.stderr).toBe(0);
      const back = await ringstack('get', `ftp://${auth}${b.ftp.userDir}/tso-${offloads}.bin`, '-o', join(dir, `tso-${offloads}.back`), '--json');
      expect(back.code, back.stderr).toBe(0);
      expect(readFileSync(join(dir, `tso-${offloads}.back`)).equals(bytes)).toBe(true);
      // IPv4 TCP frames from our address: the largest one we handed the link.
      const ours = readPcap(readFileSync(pcap)).packets.filter((p) => p.data[12] === 0x08 && p.data[13] === 0x00 && p.data[23] === 6
        && p.data.subarray(26, 30).join('.') === b.stackLink.stackIp);
      // The capture holds the upload (2 MiB of frames at least), so neither bound below can hold vacuously.
      expect(ours.reduce((sum, p) => sum + p.originalLength, 0)).toBeGreaterThan(bytes.length);
      largest[offloads] = Math.max(...ours.map((p) => p.originalLength));
    }
    expect(largest['on']).toBeGreaterThan(b.mtu + 14);
    expect(largest['off']).toBeLessThanOrEqual(b.mtu + 14);
  });
});

describeWithTestbed('ringstack get on our stack: the big bed files', () => {
  const bed = useTestbed({ name: testbedName('rg'), files: 'all' });
  const dir = mkdtempSync(join(tmpdir(), 'ringstack-cli-big-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('fetches 100 MiB and 1 GiB from vsftpd (4 segments) with equal sha256', async () => {
    const b = bed();
    for (const name of ['100MiB', '1GiB']) {
      const file = b.files.find((f) => f.name === name)!;
      const argv = ['netns', 'exec', b.namespaces.stack, process.execPath, '--import', 'tsx', cli, 'get', `ftp://${b.stackLink.peerIp}/${name}`,
        '-o', join(dir, name), '--segments', '4', '--json',
        '--link', `packet:${b.stackLink.stackIf}`, '--ip', `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`];
      const { stdout } = await run('ip', argv, { timeout: 120_000 });
      expect(JSON.parse(stdout)).toMatchObject({ transport: 'ringstack', bytes: file.size, sha256: file.sha256 });
      rmSync(join(dir, name), { force: true });
    }
  }, 240_000);
});
