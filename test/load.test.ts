import { execFile } from 'node:child_process';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { EXIT, runCli } from '../src/main/cli.js';
import { describeWithTestbed, testbedName, useTestbed } from './helpers/testbed.js';

const run = promisify(execFile);
const cliPath = fileURLToPath(new URL('../src/main/cli.ts', import.meta.url));

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runCli(args, { stdout, stderr, signal: new AbortController().signal });
  return { code, stdout: out, stderr: err };
}

describe('ringstack load', () => {
  it('runs N clients on a piscina pool sharing one stack against our FTP server on the memory wire', async () => {
    const r = await cli(['load', '--memory', '--clients', '6', '--threads', '2', '--count', '60', '--file-kib', '32', '--json']);
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const summary = JSON.parse(r.stdout);
    expect(summary).toMatchObject({ clients: 6, threads: 2, transport: 'ringstack', fetches: 60, bytes: 60 * 32 * 1024, errors: 0 });
    expect(summary.fetchesPerSecond).toBeGreaterThan(0);
    expect(summary.latencyMs.p50).toBeGreaterThan(0);
    expect(summary.latencyMs.max).toBeGreaterThanOrEqual(summary.latencyMs.p99);
  }, 120_000);

  it('refuses contradictory options with a usage error', async () => {
    expect((await cli(['load'])).code).toBe(EXIT.usage);
    expect((await cli(['load', '--memory', 'ftp://198.18.0.1/x'])).code).toBe(EXIT.usage);
    expect((await cli(['load', '--memory', '--clients', '0'])).code).toBe(EXIT.usage);
  });
});

describeWithTestbed('ringstack load against vsftpd on the bed', () => {
  const bed = useTestbed({ name: testbedName('rl'), files: 'small' });

  it('fetches the 1 KiB file from vsftpd with clients in application threads on our stack', async () => {
    const b = bed();
    const { stdout } = await run('ip', ['netns', 'exec', b.namespaces.stack, process.execPath, '--import', 'tsx', cliPath, 'load',
      `ftp://${b.stackLink.peerIp}/1KiB`, '--clients', '4', '--threads', '2', '--count', '80', '--json',
      '--link', `packet:${b.stackLink.stackIf}`, '--ip', `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`], { timeout: 90_000 });
    expect(JSON.parse(stdout)).toMatchObject({ fetches: 80, bytes: 80 * 1024, errors: 0, transport: 'ringstack' });
  }, 120_000);
});
