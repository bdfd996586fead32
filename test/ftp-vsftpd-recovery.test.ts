// The FTP client against the bed's vsftpd when things go wrong or get big (issue 6, "done when"): a download
// whose data connection is killed midway resumes (REST) and completes; a 4-segment download of the 1 GiB file is
// correct by sha256. Runs `ringstack get --kernel` in the kernel-client namespace. Root only (namespaces).

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { describeWithTestbed, execInNamespace, testbedName, useTestbed, type Testbed } from './helpers/testbed.js';

const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));
const tsxLoader = import.meta.resolve('tsx');

interface GetSummary {
  bytes: number;
  fetched: number;
  sha256: string | null;
  segments: number;
  ranges: number;
  retries: number;
}

async function cliGet(bed: Testbed, args: string[], timeoutMs: number): Promise<{ code: number | null; summary: GetSummary | undefined; stderr: string }> {
  const result = await execInNamespace(bed.namespaces.kclient, [process.execPath, '--import', tsxLoader, cliPath, 'get', ...args, '--kernel', '--json', '--timeout', '10'], {
    timeoutMs,
    check: false,
  });
  const text = result.stdout.toString().trim();
  return { code: result.code, summary: text === '' ? undefined : (JSON.parse(text) as GetSummary), stderr: result.stderr };
}

async function withDir<T>(body: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'ringstack-recovery-'));
  try {
    return await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function sha256OfFile(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path, { highWaterMark: 1 << 20 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

describeWithTestbed('ringstack get --kernel: a data connection killed midway', () => {
  const bed = useTestbed({ name: testbedName('ftpk'), files: 'small' });

  it('resumes with REST from the last written byte and completes with equal sha256', async () => {
    const b = bed();
    const file = b.files.find((f) => f.name === '1MiB');
    expect(file).toBeDefined();
    const [low, high] = b.ftp.passiveRange;
    const dataSockets = `( sport >= :${low} and sport <= :${high} )`;
    // 4 Mbit/s towards the client: the 1 MiB transfer takes ~2 s, long enough to kill it in the middle. (vsftpd
    // hands the whole file to its socket at once, so the socket is in FIN-WAIT-1 while the data drains.)
    const peerIf = b.kclientLink.peerIf;
    await execInNamespace(b.namespaces.peer, ['tc', 'qdisc', 'add', 'dev', peerIf, 'root', 'tbf', 'rate', '4mbit', 'burst', '32kb', 'latency', '400ms'], { timeoutMs: 5000 });
    try {
      await withDir(async (dir) => {
        const out = join(dir, '1MiB');
        const getting = cliGet(b, [`ftp://${b.kclientLink.peerIp}/1MiB`, '-o', out, '-v'], 60_000);
        // Find the data connection in the peer, let some bytes through, then reset it (ss -K: the kernel aborts
        // the socket and sends a RST, as a crashed server or a middlebox would).
        let killed = '';
        for (let attempt = 0; attempt < 300 && killed === ''; attempt++) {
          const listed = await execInNamespace(b.namespaces.peer, ['ss', '-Htn', dataSockets], { timeoutMs: 5000 });
          // State Recv-Q Send-Q …: the transfer has begun once the server has bytes queued for the client.
          const sending = listed.stdout.toString().split('\n').some((line) => Number(line.trim().split(/\s+/)[2]) > 0);
          if (sending) {
            await sleep(400);
            killed = (await execInNamespace(b.namespaces.peer, ['ss', '-K', '-Htn', dataSockets], { timeoutMs: 5000 })).stdout.toString().trim();
          } else {
            await sleep(20);
          }
        }
        expect(killed, 'no data connection was seen to kill').not.toBe('');
        const { code, summary, stderr } = await getting;
        expect(code, stderr).toBe(0);
        // The client hears of the kill either from the data connection itself (reset) or first from the server's
        // "426 Failure writing network stream": both must lead to a retry from exactly the last byte written.
        expect(stderr).toMatch(/data connection failed after \d+ bytes|< 426 /);
        const retry = /retry 1\/5 in \d+ ms from byte (\d+)/.exec(stderr);
        expect(retry, stderr).not.toBeNull();
        const restartAt = retry![1];
        expect(Number(restartAt)).toBeGreaterThan(0);
        expect(Number(restartAt)).toBeLessThan(file!.size);
        const lost = /data connection failed after (\d+) bytes/.exec(stderr);
        if (lost) expect(lost[1]).toBe(restartAt);
        expect(stderr).toContain(`> REST ${restartAt}`);
        expect(summary).toMatchObject({ bytes: file!.size, fetched: file!.size, sha256: file!.sha256 });
        expect(summary!.retries).toBeGreaterThanOrEqual(1);
        expect(summary!.ranges).toBeGreaterThanOrEqual(2);
        expect(createHash('sha256').update(await readFile(out)).digest('hex')).toBe(file!.sha256);
      });
    } finally {
      await execInNamespace(b.namespaces.peer, ['tc', 'qdisc', 'del', 'dev', peerIf, 'root'], { timeoutMs: 5000, check: false });
    }
  });
});

describeWithTestbed('ringstack get --kernel: the 1 GiB file over 4 segments', () => {
  // Only this block needs the big files (made once per machine, ~8 s the first time, then cached).
  const bed = useTestbed({ name: testbedName('ftpg'), files: 'all' });

  it('is correct by sha256', async () => {
    const b = bed();
    const file = b.files.find((f) => f.name === '1GiB');
    expect(file).toBeDefined();
    await withDir(async (dir) => {
      const out = join(dir, '1GiB');
      const { code, summary, stderr } = await cliGet(b, [`ftp://${b.kclientLink.peerIp}/1GiB`, '-o', out, '--segments', '4'], 120_000);
      expect(code, stderr).toBe(0);
      expect(summary).toMatchObject({ bytes: file!.size, fetched: file!.size, segments: 4, sha256: file!.sha256 });
      expect((await stat(out)).size).toBe(file!.size);
      // The client's digest is of the file it wrote; check that file independently too.
      expect(await sha256OfFile(out)).toBe(file!.sha256);
    });
  }, 180_000);
});
