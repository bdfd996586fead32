// The kernel-peer test bed (scripts/testbed.sh) seen from TypeScript tests: bring a bed up, read its facts, run
// commands in its namespaces, take it down. docs/TESTBED.md describes the bed itself.
import { spawn } from 'node:child_process';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe } from 'vitest';

export const testbedScript = fileURLToPath(new URL('../../scripts/testbed.sh', import.meta.url));

/** Creating namespaces, veths and TAP devices needs root here; CI runs as root. */
export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export interface TestbedOptions {
  /** 1-12 characters `[a-z][a-z0-9]*`; use `testbedName()` for one unique to this test process. */
  name: string;
  mtu?: number;
  offloads?: 'on' | 'off';
  tap?: boolean;
  /** Creates the TAP device for this user (implies `tap`). */
  tapUser?: string;
  /** `small`: files up to 1 MiB only (fast); `all` adds 100MiB and 1GiB (made once, cached). Default `all`. */
  files?: 'small' | 'all' | 'none';
  /** A /24 inside 198.18.0.0/15, e.g. `198.18.5.0/24`; the peer is .1, the stack .2. */
  subnet?: string;
  tapSubnet?: string;
  kclientSubnet?: string;
  ftpPort?: number;
  ftpsPort?: number;
  /** For `up` as a whole; the first run on a clean machine installs packages and makes the test files. */
  timeoutMs?: number;
}

export interface TestFile {
  name: string;
  size: number;
  sha256: string;
  /** Path on this machine (the peer serves the same directory as the anonymous root). */
  path: string;
}

export interface Testbed {
  name: string;
  stateDir: string;
  mtu: number;
  offloads: 'on' | 'off';
  namespaces: { peer: string; stack: string; kclient: string };
  /** The veth our stack uses: the kernel peer's end is addressed, the stack's end has no address. */
  stackLink: {
    peerIf: string;
    peerIp: string;
    peerMac: string;
    stackIf: string;
    stackIp: string;
    stackMac: string;
    prefixLength: number;
  };
  /** The kernel client's veth to the peer. */
  kclientLink: { peerIf: string; peerIp: string; clientIf: string; clientIp: string };
  /** The TAP device inside the peer namespace, if the bed has one. */
  tap: { ifName: string; peerIp: string; stackIp: string; user: string | null } | null;
  ftp: {
    port: number;
    ftpsPort: number;
    passiveRange: readonly [number, number];
    ftpsPassiveRange: readonly [number, number];
    user: string;
    password: string;
    /** The user's writable directory as the FTP client sees it (the user is chrooted). */
    userDir: string;
    /** The same directory on this machine. */
    userUploadDir: string;
    tlsCertPath: string;
    pids: { ftp: number; ftps: number };
  };
  filesDir: string;
  files: readonly TestFile[];
  /** Every line of `testbed.sh env`, for facts not modelled above. */
  env: Readonly<Record<string, string>>;
}

export interface ExecOptions {
  timeoutMs: number;
  /** Written to the command's stdin, which is then closed. */
  input?: Uint8Array | string;
  /** Reject when the command exits non-zero (default true). */
  check?: boolean;
}

export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Runs argv, collecting its output. On timeout the child (by its PID) is killed and the promise rejects; a
 * non-zero exit rejects too unless `check` is false. Errors name the command and carry its stderr.
 */
export function execCommand(argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  const [file, ...args] = argv;
  if (file === undefined) return Promise.reject(new Error('execCommand: empty argv'));
  const check = options.check ?? true;
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`${argv.join(' ')}: ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const result: ExecResult = { code, signal, stdout: Buffer.concat(stdout), stderr: Buffer.concat(stderr).toString() };
      if (timedOut) {
        reject(new Error(`${argv.join(' ')}: timed out after ${options.timeoutMs} ms; stderr: ${result.stderr.trim()}`));
      } else if (check && code !== 0) {
        reject(new Error(`${argv.join(' ')}: exit ${code ?? signal}; stderr: ${result.stderr.trim()}`));
      } else {
        resolve(result);
      }
    });
    // A command that exits without reading its stdin must not turn into an EPIPE error here.
    child.stdin.on('error', () => {});
    child.stdin.end(options.input);
  });
}

/** Runs argv inside network namespace `ns` (`ip netns exec`, which execs argv: the child PID is the command's). */
export function execInNamespace(ns: string, argv: readonly string[], options: ExecOptions): Promise<ExecResult> {
  return execCommand(['ip', 'netns', 'exec', ns, ...argv], options);
}

/** A bed name unique to this test process: `tag` (1-6 characters) plus the PID in base 36. */
export function testbedName(tag: string): string {
  const name = `${tag}${process.pid.toString(36)}`;
  if (!/^[a-z][a-z0-9]{0,11}$/.test(name)) throw new Error(`testbedName: '${name}' is not a valid bed name (tag '${tag}')`);
  return name;
}

function runScript(args: readonly string[], timeoutMs: number): Promise<ExecResult> {
  return execCommand(['bash', testbedScript, ...args], { timeoutMs });
}

function upArguments(options: TestbedOptions): string[] {
  const args = ['up', '--name', options.name];
  if (options.mtu !== undefined) args.push('--mtu', String(options.mtu));
  if (options.offloads !== undefined) args.push('--offloads', options.offloads);
  if (options.tap) args.push('--tap');
  if (options.tapUser !== undefined) args.push('--tap-user', options.tapUser);
  if (options.files !== undefined) args.push('--files', options.files);
  if (options.subnet !== undefined) args.push('--subnet', options.subnet);
  if (options.tapSubnet !== undefined) args.push('--tap-subnet', options.tapSubnet);
  if (options.kclientSubnet !== undefined) args.push('--kclient-subnet', options.kclientSubnet);
  if (options.ftpPort !== undefined) args.push('--ftp-port', String(options.ftpPort));
  if (options.ftpsPort !== undefined) args.push('--ftps-port', String(options.ftpsPort));
  return args;
}

/** Brings bed `options.name` up (replacing a stale or differently configured one) and returns its facts. */
export async function testbedUp(options: TestbedOptions): Promise<Testbed> {
  await runScript(upArguments(options), options.timeoutMs ?? 900_000);
  return testbedFacts(options.name);
}

/** Takes bed `name` down; succeeds when nothing of it exists. */
export async function testbedDown(name: string): Promise<void> {
  await runScript(['down', '--name', name], 60_000);
}

/** Wire loss for packets arriving at the kernel peer; `iface` is `stack`, `tap`, `kclient` or a peer interface. */
export async function testbedImpair(name: string, impairment: { loss: number; iface?: string }): Promise<void> {
  if (!(impairment.loss > 0 && impairment.loss <= 1)) throw new Error(`testbedImpair: loss ${impairment.loss} is not in (0, 1]`);
  const args = ['impair', '--name', name, '--loss', String(impairment.loss)];
  if (impairment.iface !== undefined) args.push('--iface', impairment.iface);
  await runScript(args, 30_000);
}

export async function testbedUnimpair(name: string): Promise<void> {
  await runScript(['unimpair', '--name', name], 30_000);
}

/** The facts of bed `name`, which must be up. */
export async function testbedFacts(name: string): Promise<Testbed> {
  const { stdout } = await runScript(['env', '--name', name], 30_000);
  const env = parseTestbedEnv(stdout.toString());
  const filesDir = envString(env, 'RSBED_FILES_DIR');
  const sums = parseSha256Sums(await readFile(join(filesDir, 'SHA256SUMS'), 'utf8'));
  const fileNames = envString(env, 'RSBED_FILES').split(',').filter((n) => n !== '');
  const files: TestFile[] = [];
  for (const fileName of fileNames) {
    const sha256 = sums.get(fileName);
    if (sha256 === undefined) throw new Error(`testbed ${name}: ${fileName} is missing from ${filesDir}/SHA256SUMS`);
    const path = join(filesDir, fileName);
    files.push({ name: fileName, size: (await stat(path)).size, sha256, path });
  }
  const tapIf = envString(env, 'RSBED_TAP_IF');
  const offloads = envString(env, 'RSBED_OFFLOADS');
  if (offloads !== 'on' && offloads !== 'off') throw new Error(`testbed ${name}: RSBED_OFFLOADS is '${offloads}'`);
  return {
    name: envString(env, 'RSBED_NAME'),
    stateDir: envString(env, 'RSBED_STATE_DIR'),
    mtu: envNumber(env, 'RSBED_MTU'),
    offloads,
    namespaces: {
      peer: envString(env, 'RSBED_PEER_NS'),
      stack: envString(env, 'RSBED_STACK_NS'),
      kclient: envString(env, 'RSBED_KCLIENT_NS'),
    },
    stackLink: {
      peerIf: envString(env, 'RSBED_PEER_IF'),
      peerIp: envString(env, 'RSBED_PEER_IP'),
      peerMac: envString(env, 'RSBED_PEER_MAC'),
      stackIf: envString(env, 'RSBED_STACK_IF'),
      stackIp: envString(env, 'RSBED_STACK_IP'),
      stackMac: envString(env, 'RSBED_STACK_MAC'),
      prefixLength: envNumber(env, 'RSBED_PREFIX_LEN'),
    },
    kclientLink: {
      peerIf: envString(env, 'RSBED_KCLIENT_PEER_IF'),
      peerIp: envString(env, 'RSBED_KCLIENT_PEER_IP'),
      clientIf: envString(env, 'RSBED_KCLIENT_IF'),
      clientIp: envString(env, 'RSBED_KCLIENT_IP'),
    },
    tap:
      tapIf === ''
        ? null
        : {
            ifName: tapIf,
            peerIp: envString(env, 'RSBED_TAP_PEER_IP'),
            stackIp: envString(env, 'RSBED_TAP_STACK_IP'),
            user: envString(env, 'RSBED_TAP_USER') || null,
          },
    ftp: {
      port: envNumber(env, 'RSBED_FTP_PORT'),
      ftpsPort: envNumber(env, 'RSBED_FTPS_PORT'),
      passiveRange: envRange(env, 'RSBED_FTP_PASV_RANGE'),
      ftpsPassiveRange: envRange(env, 'RSBED_FTPS_PASV_RANGE'),
      user: envString(env, 'RSBED_FTP_USER'),
      password: envString(env, 'RSBED_FTP_PASSWORD'),
      userDir: envString(env, 'RSBED_FTP_USER_DIR'),
      userUploadDir: envString(env, 'RSBED_USER_UPLOAD_DIR'),
      tlsCertPath: envString(env, 'RSBED_TLS_CERT'),
      pids: { ftp: envNumber(env, 'RSBED_VSFTPD_PID'), ftps: envNumber(env, 'RSBED_VSFTPD_FTPS_PID') },
    },
    filesDir,
    files,
    env,
  };
}

/** Parses `testbed.sh env` output: `KEY=value` lines (values unquoted, possibly empty). */
export function parseTestbedEnv(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match === null) throw new Error(`testbed env line ${index + 1} is not KEY=value: ${JSON.stringify(line)}`);
    const [, key, value] = match;
    if (key === undefined || value === undefined) throw new Error(`testbed env line ${index + 1}: no key`);
    if (key in env) throw new Error(`testbed env: ${key} appears twice`);
    env[key] = value;
  });
  return env;
}

/** Parses `sha256sum` output (`<64 hex>  <name>` lines) into name → digest. */
export function parseSha256Sums(text: string): Map<string, string> {
  const sums = new Map<string, string>();
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const match = /^([0-9a-f]{64}) [ *](.+)$/.exec(line);
    if (match === null || match[1] === undefined || match[2] === undefined) {
      throw new Error(`SHA256SUMS line ${index + 1} is not '<sha256>  <name>': ${JSON.stringify(line)}`);
    }
    sums.set(match[2], match[1]);
  });
  return sums;
}

function envString(env: Readonly<Record<string, string>>, key: string): string {
  const value = env[key];
  if (value === undefined) throw new Error(`testbed env has no ${key}`);
  return value;
}

function envNumber(env: Readonly<Record<string, string>>, key: string): number {
  const text = envString(env, key);
  const value = Number(text);
  if (text === '' || !Number.isInteger(value)) throw new Error(`testbed env ${key}='${text}' is not an integer`);
  return value;
}

function envRange(env: Readonly<Record<string, string>>, key: string): readonly [number, number] {
  const match = /^(\d+)-(\d+)$/.exec(envString(env, key));
  if (match === null) throw new Error(`testbed env ${key} is not a MIN-MAX range`);
  return [Number(match[1]), Number(match[2])];
}

/**
 * `describe` for tests that need the bed: when not root they are skipped with a visible reason; as root (CI)
 * they run and fail loudly.
 */
export function describeWithTestbed(title: string, body: () => void): void {
  if (!isRoot()) {
    console.warn(
      `[testbed] skipping "${title}": it needs root (network namespaces, veth, TAP). CI runs as root; ` +
        'locally: sudo npx vitest run <file>. See docs/TESTBED.md.',
    );
  }
  describe.skipIf(!isRoot())(title, body);
}

/**
 * Registers beforeAll (up) and afterAll (down, which runs even when a test or the up itself failed) in the
 * enclosing describe, and returns a getter for the bed's facts.
 */
export function useTestbed(options: TestbedOptions): () => Testbed {
  let bed: Testbed | undefined;
  beforeAll(async () => {
    bed = await testbedUp(options);
  }, options.timeoutMs ?? 900_000);
  afterAll(async () => {
    await testbedDown(options.name);
  }, 60_000);
  return () => {
    if (bed === undefined) throw new Error(`testbed ${options.name} is not up (its beforeAll failed)`);
    return bed;
  };
}
