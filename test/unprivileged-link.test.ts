import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithTestbed, testbedName, useTestbed } from './helpers/testbed.js';
import { asNobody, unprivilegedWorkspace } from './helpers/unprivileged.js';

const run = promisify(execFile);

// docs/TESTBED.md "Running without root": a packet link needs CAP_NET_RAW and nothing else. As the user nobody
// inside the bed's stack namespace, `ringstack ping` works with exactly that capability and says what is missing
// without it.
describeWithTestbed('a packet link without root', () => {
  const bed = useTestbed({ name: testbedName('rp'), files: 'none' });
  let workspace: Awaited<ReturnType<typeof unprivilegedWorkspace>>;
  beforeAll(async () => {
    workspace = await unprivilegedWorkspace();
  });
  afterAll(() => workspace?.dispose());

  async function pingAs(caps: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const b = bed();
    const argv = ['netns', 'exec', b.namespaces.stack, ...asNobody(caps), process.execPath, '--import', 'tsx',
      join(workspace.cwd, 'src/main/cli.ts'), 'ping', b.stackLink.peerIp, '--count', '2', '--interval', '0.05',
      '--link', `packet:${b.stackLink.stackIf}`, '--ip', `${b.stackLink.stackIp}/${b.stackLink.prefixLength}`];
    try {
      const { stdout, stderr } = await run('ip', argv, { cwd: workspace.cwd, timeout: 60_000, env: { ...process.env, HOME: workspace.home, TMPDIR: workspace.home } });
      return { code: 0, stdout, stderr };
    } catch (error) {
      const e = error as { code: number; stdout: string; stderr: string };
      return { code: e.code, stdout: e.stdout, stderr: e.stderr };
    }
  }

  it('works as nobody with CAP_NET_RAW only', async () => {
    const r = await pingAs(['net_raw']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/2 received/);
  });

  it('without it, fails and names the capability', async () => {
    const r = await pingAs([]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/CAP_NET_RAW/);
  });
});
