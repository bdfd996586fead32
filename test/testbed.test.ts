// The test bed itself: scripts/testbed.sh brought up with --files small, checked from the kernel client with curl.
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  describeWithTestbed,
  execCommand,
  execInNamespace,
  parseSha256Sums,
  parseTestbedEnv,
  testbedDown,
  testbedFacts,
  testbedImpair,
  testbedName,
  testbedScript,
  testbedUnimpair,
  testbedUp,
  useTestbed,
} from './helpers/testbed.js';

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

interface IpLink {
  ifname: string;
  mtu: number;
  operstate: string;
  flags: string[];
  address: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
  linkinfo?: { info_kind: string; info_data?: { type?: string; persist?: boolean; user?: string } };
}

async function ipJson(ns: string | null, args: readonly string[]): Promise<IpLink[]> {
  const argv = ns === null ? ['ip', '-j', ...args] : ['ip', '-n', ns, '-j', ...args];
  const { stdout } = await execCommand(argv, { timeoutMs: 10_000 });
  return JSON.parse(stdout.toString()) as IpLink[];
}

/** A PID is gone when /proc has no entry for it, or only a zombie waiting to be reaped. */
async function processRunning(pid: number): Promise<boolean> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

async function namespaces(): Promise<string[]> {
  const { stdout } = await execCommand(['ip', 'netns', 'list'], { timeoutMs: 10_000 });
  return stdout
    .toString()
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((ns) => ns !== '');
}

describe('testbed env and SHA256SUMS parsers', () => {
  it('reads KEY=value lines, keeps empty values and refuses anything else', () => {
    expect(parseTestbedEnv('RSBED_NAME=tb1\nRSBED_TAP_IF=\n\nRSBED_FILES=0B,1B\n')).toEqual({
      RSBED_NAME: 'tb1',
      RSBED_TAP_IF: '',
      RSBED_FILES: '0B,1B',
    });
    expect(() => parseTestbedEnv('RSBED_NAME tb1')).toThrow(/line 1 is not KEY=value/);
    expect(() => parseTestbedEnv('A=1\nA=2')).toThrow(/A appears twice/);
  });

  it('reads sha256sum lines in text and binary mode and refuses a short digest', () => {
    const digest = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
    const sums = parseSha256Sums(`${digest}  0B\n${digest} *odd name\n`);
    expect([...sums]).toEqual([
      ['0B', digest],
      ['odd name', digest],
    ]);
    expect(() => parseSha256Sums('abc  0B')).toThrow(/line 1/);
  });

  it('makes bed names that fit interface names, and refuses a tag that would not', () => {
    expect(testbedName('tb')).toMatch(/^tb[a-z0-9]{1,10}$/);
    expect(() => testbedName('toolongtagxyz')).toThrow(/not a valid bed name/);
    expect(() => testbedName('9x')).toThrow(/not a valid bed name/);
  });
});

describeWithTestbed('test bed: kernel peer, kernel client and vsftpd in namespaces', () => {
  const name = testbedName('tb');
  const mtu = 1400;
  const bed = useTestbed({ name, files: 'small', mtu, offloads: 'off', tapUser: 'nobody' });

  const curl = (args: readonly string[], options: { input?: Uint8Array; check?: boolean } = {}) =>
    execInNamespace(bed().namespaces.kclient, ['curl', '-sS', '--connect-timeout', '5', '--max-time', '20', ...args], {
      timeoutMs: 30_000,
      ...options,
    });
  const ftpUrl = (path: string, port = bed().ftp.port) => `ftp://${bed().kclientLink.peerIp}:${port}${path}`;
  const userUrl = (path: string, port = bed().ftp.port) =>
    `ftp://${bed().ftp.user}:${bed().ftp.password}@${bed().kclientLink.peerIp}:${port}${path}`;

  it('gives the stack a veth that is up with the MTU asked, no IPv4 address and no IPv6', async () => {
    const { namespaces: ns, stackLink } = bed();
    const [stackEnd] = await ipJson(ns.stack, ['addr', 'show', 'dev', stackLink.stackIf]);
    expect(stackEnd?.mtu).toBe(mtu);
    expect(stackEnd?.flags).toContain('UP');
    expect(stackEnd?.operstate).toBe('UP');
    expect(stackEnd?.address).toBe(stackLink.stackMac);
    expect(stackEnd?.addr_info ?? []).toEqual([]);
    const ipv6 = await execInNamespace(ns.stack, ['cat', `/proc/sys/net/ipv6/conf/${stackLink.stackIf}/disable_ipv6`], {
      timeoutMs: 10_000,
    });
    expect(ipv6.stdout.toString().trim()).toBe('1');

    const [peerEnd] = await ipJson(ns.peer, ['addr', 'show', 'dev', stackLink.peerIf]);
    expect(peerEnd?.mtu).toBe(mtu);
    expect(peerEnd?.addr_info?.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`)).toEqual([
      `${stackLink.peerIp}/${stackLink.prefixLength}`,
    ]);
    expect(stackLink.peerIp).toBe('198.18.0.1');
    expect(stackLink.stackIp).toBe('198.18.0.2');
  });

  it("turns offloads off when asked, on the stack link and on the kernel client's link alike", async () => {
    for (const [ns, dev] of [
      [bed().namespaces.peer, bed().stackLink.peerIf],
      [bed().namespaces.peer, bed().kclientLink.peerIf],
      [bed().namespaces.kclient, bed().kclientLink.clientIf],
    ] as const) {
      const { stdout } = await execInNamespace(ns, ['ethtool', '-k', dev], { timeoutMs: 10_000 });
      const features = stdout.toString();
      for (const feature of ['tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload', 'tx-checksumming', 'rx-checksumming']) {
        expect(features, `${dev} ${feature}`).toMatch(new RegExp(`^${feature}: off`, 'm'));
      }
    }
  });

  it('makes a persistent TAP device for the user inside the peer namespace', async () => {
    const tap = bed().tap;
    expect(tap).not.toBeNull();
    if (tap === null) return;
    const [link] = await ipJson(bed().namespaces.peer, ['-d', 'addr', 'show', 'dev', tap.ifName]);
    expect(link?.linkinfo?.info_kind).toBe('tun');
    expect(link?.linkinfo?.info_data).toMatchObject({ type: 'tap', persist: true, user: 'nobody' });
    expect(link?.mtu).toBe(mtu);
    expect(link?.addr_info?.map((a) => a.local)).toEqual([tap.peerIp]);
    // Nothing of the bed lives in the root namespace.
    expect((await ipJson(null, ['link', 'show'])).map((l) => l.ifname).filter((n) => n.startsWith(`${name}-`))).toEqual([]);
  });

  it('serves every small file anonymously in passive mode with the listed sha256', async () => {
    const files = bed().files;
    expect(files.map((f) => f.name)).toEqual(['0B', '1B', '1KiB', '1MiB']);
    for (const file of files) {
      const { stdout } = await curl([ftpUrl(`/${file.name}`)]);
      expect(stdout.length).toBe(file.size);
      expect(sha256(stdout)).toBe(file.sha256);
    }
  });

  it('serves them in active mode (PORT/EPRT) too', async () => {
    for (const file of bed().files) {
      const { stdout } = await curl(['--ftp-port', bed().kclientLink.clientIp, ftpUrl(`/${file.name}`)]);
      expect(sha256(stdout)).toBe(file.sha256);
    }
  });

  it('keeps the anonymous root read-only', async () => {
    const refused = await curl(['-T', '-', ftpUrl('/intruder')], { input: randomBytes(16), check: false });
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/553|550|denied|failed/i);
  });

  it('lets the user upload into its directory and download the same bytes back', async () => {
    const content = randomBytes(200_000);
    await curl(['-T', '-', userUrl(`${bed().ftp.userDir}/roundtrip.bin`)], { input: content });
    const onServer = await readFile(join(bed().ftp.userUploadDir, 'roundtrip.bin'));
    expect(sha256(onServer)).toBe(sha256(content));
    const { stdout } = await curl([userUrl(`${bed().ftp.userDir}/roundtrip.bin`)]);
    expect(sha256(stdout)).toBe(sha256(content));
    const wrongPassword = await curl([`ftp://${bed().ftp.user}:not-it@${bed().kclientLink.peerIp}/`], { check: false });
    expect(wrongPassword.code).toBe(67); // CURLE_LOGIN_DENIED
  });

  it('speaks explicit FTPS on its own port, anonymous and user, with plain FTP still allowed there', async () => {
    const { ftpsPort } = bed().ftp;
    const file = bed().files.find((f) => f.name === '1MiB');
    expect(file).toBeDefined();
    if (file === undefined) return;
    const tls = await curl(['--ssl-reqd', '-k', '-v', ftpUrl(`/${file.name}`, ftpsPort)]);
    expect(sha256(tls.stdout)).toBe(file.sha256);
    expect(tls.stderr).toMatch(/> AUTH (SSL|TLS)/);
    expect(tls.stderr).toMatch(/< 234 /);
    expect(tls.stderr).toMatch(/SSL connection using TLS/);
    const content = randomBytes(50_000);
    await curl(['--ssl-reqd', '-k', '-T', '-', userUrl(`${bed().ftp.userDir}/tls.bin`, ftpsPort)], { input: content });
    const back = await curl(['--ssl-reqd', '-k', userUrl(`${bed().ftp.userDir}/tls.bin`, ftpsPort)]);
    expect(sha256(back.stdout)).toBe(sha256(content));
    const plain = await curl([ftpUrl(`/${file.name}`, ftpsPort)]);
    expect(sha256(plain.stdout)).toBe(file.sha256);
    // Without TLS, the plain instance refuses AUTH TLS.
    const noTls = await curl(['--ssl-reqd', '-k', ftpUrl('/1B')], { check: false });
    expect(noTls.code).not.toBe(0);
  });

  it('drops packets arriving at the peer when impaired, and stops when unimpaired', async () => {
    await testbedImpair(name, { loss: 1, iface: 'kclient' });
    const rules = await execInNamespace(bed().namespaces.peer, ['iptables', '-t', 'raw', '-S'], { timeoutMs: 10_000 });
    expect(rules.stdout.toString()).toMatch(/-i \S+-pk -m statistic --mode random --probability 1(\.0+)? -j DROP/);
    const lost = await execInNamespace(
      bed().namespaces.kclient,
      ['curl', '-sS', '--connect-timeout', '1', ftpUrl('/1B')],
      { timeoutMs: 10_000, check: false },
    );
    expect(lost.code).toBe(28); // CURLE_OPERATION_TIMEDOUT: the SYNs never arrived
    await testbedUnimpair(name);
    const rulesAfter = await execInNamespace(bed().namespaces.peer, ['iptables', '-t', 'raw', '-S'], { timeoutMs: 10_000 });
    expect(rulesAfter.stdout.toString()).not.toMatch(/DROP/);
    const { stdout } = await curl([ftpUrl('/1B')]);
    expect(stdout.length).toBe(1);
    await expect(testbedImpair(name, { loss: 1.5 })).rejects.toThrow(/not in \(0, 1\]/);
    await expect(execCommand(['bash', testbedScript, 'impair', '--name', name, '--loss', 'lots'], { timeoutMs: 10_000 })).rejects.toThrow(
      /bad --loss/,
    );
  });

  it('keeps a healthy bed on a second up, and rebuilds one whose vsftpd died', async () => {
    const before = bed();
    const again = await testbedUp({ name, files: 'small', mtu, offloads: 'off', tapUser: 'nobody' });
    expect(again.ftp.pids).toEqual(before.ftp.pids);
    // A crashed run: kill our vsftpd behind the script's back, then up must notice and rebuild.
    process.kill(before.ftp.pids.ftp, 'SIGKILL');
    const rebuilt = await testbedUp({ name, files: 'small', mtu, offloads: 'off', tapUser: 'nobody' });
    expect(rebuilt.ftp.pids.ftp).not.toBe(before.ftp.pids.ftp);
    expect(await processRunning(before.ftp.pids.ftps)).toBe(false);
    expect(await processRunning(rebuilt.ftp.pids.ftp)).toBe(true);
    const { stdout } = await curl([ftpUrl('/1KiB')]);
    expect(sha256(stdout)).toBe(rebuilt.files.find((f) => f.name === '1KiB')?.sha256);
  });

  it('runs a second bed beside the first, with offloads on at both ends by default and a chosen subnet', async () => {
    const other = testbedName('tbo');
    try {
      const second = await testbedUp({ name: other, files: 'none', subnet: '198.19.7.0/24', timeoutMs: 60_000 });
      expect(second.files).toEqual([]);
      expect(second.stackLink.peerIp).toBe('198.19.7.1');
      expect(second.stackLink.stackIp).toBe('198.19.7.2');
      for (const [ns, dev] of [
        [second.namespaces.peer, second.stackLink.peerIf],
        [second.namespaces.stack, second.stackLink.stackIf],
        [second.namespaces.peer, second.kclientLink.peerIf],
        [second.namespaces.kclient, second.kclientLink.clientIf],
      ] as const) {
        const { stdout } = await execInNamespace(ns, ['ethtool', '-k', dev], { timeoutMs: 10_000 });
        for (const feature of ['tcp-segmentation-offload', 'generic-segmentation-offload', 'generic-receive-offload', 'tx-checksumming', 'rx-checksumming']) {
          expect(stdout.toString()).toMatch(new RegExp(`^${feature}: on`, 'm'));
        }
      }
      // Both beds serve at once, each in its own namespaces.
      const { stdout } = await execInNamespace(
        second.namespaces.kclient,
        ['curl', '-sS', '--max-time', '10', `ftp://${second.kclientLink.peerIp}/`],
        { timeoutMs: 15_000 },
      );
      expect(stdout.toString()).toMatch(/SHA256SUMS/);
      expect((await curl([ftpUrl('/1B')])).stdout.length).toBe(1);
    } finally {
      await testbedDown(other);
    }
  });

  it('refuses addresses outside 198.18.0.0/15 and creates nothing', async () => {
    const other = testbedName('tbx');
    for (const subnet of ['10.0.0.0/24', '198.20.0.0/24', '198.18.0.0/16', '198.18.256.0/24']) {
      await expect(testbedUp({ name: other, subnet, timeoutMs: 10_000 })).rejects.toThrow(/--subnet/);
    }
    await expect(testbedUp({ name: other, kclientSubnet: '192.168.1.0/24', timeoutMs: 10_000 })).rejects.toThrow(
      /refused: the bed uses only addresses inside 198\.18\.0\.0\/15/,
    );
    expect((await namespaces()).filter((ns) => ns.startsWith(`${other}-`))).toEqual([]);
  });

  it('down removes the namespaces, the TAP device, vsftpd and the state, and is safe to repeat', async () => {
    const facts = await testbedFacts(name);
    await testbedDown(name);
    expect((await namespaces()).filter((ns) => ns.startsWith(`${name}-`))).toEqual([]);
    expect(await processRunning(facts.ftp.pids.ftp)).toBe(false);
    expect(await processRunning(facts.ftp.pids.ftps)).toBe(false);
    expect((await ipJson(null, ['link', 'show'])).map((l) => l.ifname).filter((n) => n.startsWith(`${name}-`))).toEqual([]);
    await expect(readFile(join(facts.stateDir, 'env'))).rejects.toThrow(/ENOENT/);
    await testbedDown(name);
    await expect(testbedFacts(name)).rejects.toThrow(/is not up/);
  });
});
