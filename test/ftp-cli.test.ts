// The CLI in-process (runCli) against the scripted server: exit codes, --json, the missing-transport message,
// Ctrl-C keeping the partial file and its resume state, and the resumed run.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { EXIT, commands, runCli } from '../src/main/cli.js';
import { resumeStatePath } from '../src/ftp/resume-state.js';
import { ScriptedFtpServer } from './helpers/scripted-ftp-server.js';

const FILE = randomBytes(1_500_000);
const SHA = createHash('sha256').update(FILE).digest('hex');
let dir: string;
let server: ScriptedFtpServer;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ringstack-cli-'));
  server = await ScriptedFtpServer.start({ files: { '/pub/file.bin': FILE }, users: { bob: 'hunter2' } });
});
afterEach(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

async function cli(args: string[], signal = new AbortController().signal) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runCli(args, { stdout, stderr, signal });
  return { code, stdout: out, stderr: err };
}

describe('ringstack CLI', () => {
  it('has an extensible command table', () => {
    expect(Object.keys(commands)).toEqual(expect.arrayContaining(['get', 'ls', 'put']));
  });

  it('without --kernel asks for the stack it should run on (--link, --ip), exit 2', async () => {
    const result = await cli(['get', `${server.url}/pub/file.bin`, '-o', join(dir, 'x')]);
    expect(result.code).toBe(EXIT.usage);
    expect(result.stderr).toMatch(/without --kernel the FTP commands run on our stack: give --link and --ip/);
  });

  it('get --json writes the file and a summary', async () => {
    const out = join(dir, 'f.bin');
    const result = await cli(['get', `${server.url}/pub/file.bin`, '-o', out, '--kernel', '--json', '--segments', '3', '--min-segment', '100000']);
    expect(result.code, result.stderr).toBe(EXIT.ok);
    const summary = JSON.parse(result.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ bytes: FILE.length, sha256: SHA, segments: 3, transport: 'kernel' });
    expect((await readFile(out)).equals(FILE)).toBe(true);
  });

  it('usage errors, unsafe names, refusals and bad logins have distinct exit codes; passwords never shown', async () => {
    expect((await cli(['nope'])).code).toBe(EXIT.usage);
    expect((await cli(['get'])).code).toBe(EXIT.usage);
    expect((await cli(['get', `${server.url}/x`, '--bogus'])).code).toBe(EXIT.usage);
    const unsafe = await cli(['get', `${server.url}/a%2F..%2F..%2Fetc`, '--kernel']);
    expect([unsafe.code, unsafe.stderr]).toEqual([EXIT.usage, expect.stringMatching(/unsafe file name/)]);
    const missing = await cli(['get', `${server.url}/pub/none`, '-o', join(dir, 'n'), '--kernel']);
    expect([missing.code, missing.stderr]).toEqual([EXIT.refused, expect.stringMatching(/550/)]);
    const login = await cli(['ls', `ftp://bob:wrongpass@127.0.0.1:${server.port}/`, '--kernel']);
    expect(login.code).toBe(EXIT.refused);
    expect(login.stderr).not.toContain('wrongpass');
    const refused = await cli(['ls', 'ftp://127.0.0.1:1/', '--kernel', '--timeout', '2']);
    expect(refused.code).toBe(EXIT.connection);
  });

  it('ls lists, put uploads under the local name', async () => {
    const local = join(dir, 'up.txt');
    await writeFile(local, 'hello');
    const put = await cli(['put', local, `ftp://bob:hunter2@127.0.0.1:${server.port}/pub/`, '--kernel', '--json']);
    expect(put.code, put.stderr).toBe(EXIT.ok);
    expect(put.stdout).not.toContain('hunter2');
    expect(server.files.get('/pub/up.txt')?.toString()).toBe('hello');
    const ls = await cli(['ls', `${server.url}/pub/`, '--kernel']);
    expect(ls.code).toBe(EXIT.ok);
    expect(ls.stdout).toMatch(/- +1500000 2024-01-01 12:00 file\.bin\n/);
    expect(ls.stdout).toMatch(/up\.txt/);
  });

  it('Ctrl-C keeps the partial file and resume state (exit 130); the next run resumes', async () => {
    server.options = { ...server.options, chunkSize: 16 * 1024, chunkDelayMs: 5 };
    const out = join(dir, 'f.bin');
    const controller = new AbortController();
    const interrupted = cli(['get', `${server.url}/pub/file.bin`, '-o', out, '--kernel'], controller.signal);
    setTimeout(() => controller.abort(), 200);
    const first = await interrupted;
    expect(first.code).toBe(EXIT.interrupted);
    expect(first.stderr).toMatch(/are kept/);
    expect(existsSync(resumeStatePath(out))).toBe(true);
    server.options = { ...server.options, chunkDelayMs: 0 };
    const second = await cli(['get', `${server.url}/pub/file.bin`, '-o', out, '--kernel', '--json']);
    expect(second.code, second.stderr).toBe(EXIT.ok);
    const summary = JSON.parse(second.stdout) as { resumedBytes: number; sha256: string };
    expect(summary.resumedBytes).toBeGreaterThan(0);
    expect(summary.sha256).toBe(SHA);
    expect(existsSync(resumeStatePath(out))).toBe(false);
  });
});
