#!/usr/bin/env node
// ringstack's command line. Each command is one entry of `commands` (name → options, usage, run); add a command
// by adding an entry. Exit codes are stable, for scripts:
//   0 success · 1 other failure · 2 usage error (or transport unavailable) · 3 connection lost/refused or timeout
//   4 the server refused (login, missing file, permission) · 5 protocol violation by the server
//   6 verification failed (size or hash) · 130 interrupted (Ctrl-C; partial file and resume state kept)

import { readFile, stat } from 'node:fs/promises';
import { createReadStream, realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import {
  ANONYMOUS,
  FtpClient,
  FtpError,
  NetTransport,
  findNetrcEntry,
  loadNetrc,
  parseFtpUrl,
  redactUrl,
  resumeStatePath,
  safeLocalName,
  segmentedDownload,
  type FtpClientOptions,
  type FtpCredentials,
  type FtpTransport,
  type FtpUrl,
} from '../ftp/index.js';
import { serveCommand } from './serve-command.js';
import { loadCommand } from './load-command.js';
import { formatBytes, progressBar } from './progress.js';
import { EXIT, UsageError } from './cli-common.js';
import { closeCliStacks, stackCommands, stackOptions, stackTransport } from './cli-stack.js';
import { parseDnsServer, resolvingTransport } from './dns.js';

export { EXIT };

export interface CliIo {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  /** Fires on Ctrl-C. */
  readonly signal: AbortSignal;
}

type OptionValues = Record<string, string | boolean | undefined>;

/** One option of a command: what node:util parseArgs needs, plus the help text. */
export interface CliOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  readonly description: string;
}

export interface CliCommand {
  readonly summary: string;
  readonly usage: string;
  readonly options: Readonly<Record<string, CliOption>>;
  readonly positionals: { min: number; max: number };
  run(args: { values: OptionValues; positionals: string[]; io: CliIo }): Promise<number>;
}

// ---- options shared by the FTP commands ----------------------------------------------------------------------

const ftpOptions = {
  ...stackOptions,
  kernel: { type: 'boolean', description: 'use the kernel TCP/IP (node:net) instead of the ringstack stack' },
  dns: { type: 'string', description: "DNS server for host names, A.B.C.D[:PORT] (default: resolv.conf's; with --kernel, the system's)" },
  active: { type: 'boolean', description: 'active mode (EPRT/PORT) instead of passive (EPSV/PASV)' },
  tls: { type: 'boolean', description: 'explicit FTPS (AUTH TLS) on an ftp:// URL; ftps:// is implicit FTPS' },
  insecure: { type: 'boolean', short: 'k', description: 'do not verify the server certificate' },
  cacert: { type: 'string', description: 'PEM file of CA certificates to verify the server with' },
  netrc: { type: 'boolean', description: 'take credentials from ~/.netrc (or $NETRC) when the URL has none' },
  json: { type: 'boolean', description: 'print a JSON summary on stdout' },
  timeout: { type: 'string', description: 'seconds for each connect, reply and data-idle wait (default 30)' },
  verbose: { type: 'boolean', short: 'v', description: 'log commands and replies to stderr (passwords hidden)' },
} as const satisfies Record<string, CliOption>;

/** The one place the CLI picks the transport: node:net with --kernel, else a stack from --link/--ip/... */
function transportFor(values: OptionValues, io: CliIo): FtpTransport {
  const dns = typeof values['dns'] === 'string' ? values['dns'] : undefined;
  if (dns !== undefined) {
    try {
      parseDnsServer(dns);
    } catch (error) {
      throw new UsageError(`--dns: ${(error as Error).message}`);
    }
  }
  // Host names: through node:dns with --kernel; on our stack, through its own resolver (cli-stack.ts).
  if (values['kernel'] === true) return resolvingTransport(new NetTransport(), { dns });
  return stackTransport(values, io);
}

async function credentialsFor(url: FtpUrl, values: OptionValues): Promise<FtpCredentials> {
  if (url.user !== undefined) return { user: url.user, password: url.password ?? '' };
  if (values['netrc'] === true) {
    const entry = findNetrcEntry((await loadNetrc()) ?? [], url.host);
    if (entry?.login !== undefined) return { user: entry.login, password: entry.password ?? '', account: entry.account };
  }
  return ANONYMOUS;
}

async function clientOptions(url: FtpUrl, values: OptionValues, io: CliIo): Promise<FtpClientOptions> {
  const seconds = values['timeout'] === undefined ? 30 : Number(values['timeout']);
  if (!(seconds > 0)) throw new UsageError(`--timeout must be a positive number of seconds`);
  const ms = Math.round(seconds * 1000);
  return {
    transport: transportFor(values, io),
    host: url.host,
    port: url.port,
    security: url.scheme === 'ftps' ? 'implicit' : values['tls'] === true ? 'explicit' : 'none',
    insecure: values['insecure'] === true,
    ca: typeof values['cacert'] === 'string' ? await readFile(values['cacert']) : undefined,
    mode: values['active'] === true ? 'active' : 'passive',
    timeouts: { connectMs: ms, replyMs: ms, dataIdleMs: ms },
    log: values['verbose'] === true ? (line) => io.stderr.write(`${line}\n`) : undefined,
  };
}

async function connectAndLogin(options: FtpClientOptions, credentials: FtpCredentials, signal: AbortSignal): Promise<FtpClient> {
  const client = await FtpClient.connect({ ...options, signal });
  try {
    await client.login(credentials);
  } catch (error) {
    client.destroy();
    throw error;
  }
  return client;
}

// ---- commands ----------------------------------------------------------------------------------------------------

const get: CliCommand = {
  summary: 'download a file',
  usage: 'get URL [-o FILE] [--segments N] [--active] [--kernel] [--json] [--tls] [--insecure] [--cacert FILE] [--no-resume]',
  options: {
    ...ftpOptions,
    output: { type: 'string', short: 'o', description: 'local file (default: the name in the URL, in this directory)' },
    segments: { type: 'string', description: 'parallel connections (default 1)' },
    'min-segment': { type: 'string', description: 'smallest range worth its own connection, bytes (default 4 MiB)' },
    'no-resume': { type: 'boolean', description: 'ignore a resume state left by an interrupted run' },
  },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, io }) {
    const url = parseFtpUrl(positionals[0]);
    if (url.isDirectory) throw new UsageError(`${redactUrl(positionals[0])} names a directory; use "ls"`);
    const segments = values['segments'] === undefined ? 1 : Number(values['segments']);
    if (!Number.isInteger(segments) || segments < 1 || segments > 64) throw new UsageError('--segments must be an integer from 1 to 64');
    const minSegment = values['min-segment'] === undefined ? undefined : Number(values['min-segment']);
    if (minSegment !== undefined && !(Number.isSafeInteger(minSegment) && minSegment > 0)) throw new UsageError('--min-segment must be a positive number of bytes');
    const localPath = typeof values['output'] === 'string' ? values['output'] : safeLocalName(url.fileName);
    const options = await clientOptions(url, values, io);
    const credentials = await credentialsFor(url, values);
    const bar = progressBar(io.stderr);
    const started = performance.now();
    try {
      const result = await segmentedDownload({
        connect: (signal) => connectAndLogin(options, credentials, signal),
        remotePath: url.path,
        localPath,
        segments,
        minSegmentBytes: minSegment,
        resume: values['no-resume'] !== true,
        signal: io.signal,
        onProgress: (done, total) => bar.update(done, total),
        log: options.log,
      });
      bar.finish();
      const seconds = (performance.now() - started) / 1000;
      if (values['json'] === true) {
        io.stdout.write(`${JSON.stringify({
          command: 'get', url: redactUrl(positionals[0]), file: localPath, transport: options.transport.name,
          bytes: result.size, fetched: result.fetched, resumedBytes: result.resumedBytes, seconds,
          rate: seconds > 0 ? result.fetched / seconds : null, segments: result.connections, ranges: result.ranges,
          retries: result.retries, sha256: result.sha256 ?? null, remoteHash: result.remoteHash ?? null,
        })}\n`);
      } else {
        io.stderr.write(`${localPath}: ${formatBytes(result.size)} in ${seconds.toFixed(2)} s (${formatBytes(result.fetched / Math.max(seconds, 1e-6))}/s)\n`);
      }
      return EXIT.ok;
    } catch (error) {
      bar.finish();
      if (io.signal.aborted) io.stderr.write(`interrupted: ${localPath} and its resume state ${resumeStatePath(localPath)} are kept\n`);
      throw error;
    }
  },
};

const ls: CliCommand = {
  summary: 'list a directory',
  usage: 'ls URL [--kernel] [--json] [--active] [--tls] [--insecure] [--cacert FILE]',
  options: ftpOptions,
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, io }) {
    const url = parseFtpUrl(positionals[0]);
    const options = await clientOptions(url, values, io);
    const client = await connectAndLogin(options, await credentialsFor(url, values), io.signal);
    try {
      const listing = await client.list(url.path === '' ? undefined : url.path, { signal: io.signal });
      if (values['json'] === true) {
        io.stdout.write(`${JSON.stringify({ command: 'ls', url: redactUrl(positionals[0]), format: listing.format, entries: listing.entries, rejected: listing.rejected })}\n`);
      } else {
        for (const entry of listing.entries) {
          const type = entry.type === 'directory' ? 'd' : entry.type === 'symlink' ? 'l' : entry.type === 'file' ? '-' : '?';
          const when = entry.modifiedAt?.toISOString().slice(0, 16).replace('T', ' ') ?? (entry.rawModified ?? '').padEnd(16);
          io.stdout.write(`${type} ${String(entry.size ?? '').padStart(12)} ${when} ${entry.name}\n`);
        }
        for (const line of listing.rejected) io.stderr.write(`skipped: ${JSON.stringify(line.line)} (${line.reason})\n`);
      }
      return EXIT.ok;
    } finally {
      await client.close();
    }
  },
};

const put: CliCommand = {
  summary: 'upload a file',
  usage: 'put FILE URL [--kernel] [--json] [--active] [--tls] [--insecure] [--cacert FILE]   (URL ending in / keeps the name)',
  options: ftpOptions,
  positionals: { min: 2, max: 2 },
  async run({ values, positionals, io }) {
    const [localPath, target] = positionals;
    const url = parseFtpUrl(target);
    const remotePath = url.isDirectory ? `${url.path}${safeLocalName(basename(localPath))}` : url.path;
    const size = (await stat(localPath)).size;
    const options = await clientOptions(url, values, io);
    const client = await connectAndLogin(options, await credentialsFor(url, values), io.signal);
    const bar = progressBar(io.stderr);
    const started = performance.now();
    let sent = 0;
    try {
      const result = await client.upload(createReadStream(localPath, { highWaterMark: 256 * 1024 }), remotePath, {
        signal: io.signal,
        type: url.type === 'a' ? 'A' : 'I',
        onProgress: (bytes) => bar.update((sent += bytes), size),
      });
      bar.finish();
      const seconds = (performance.now() - started) / 1000;
      if (result.bytes !== size) throw new FtpError('verify', `sent ${result.bytes} bytes of ${size} (file changed while uploading?)`);
      if (values['json'] === true) {
        io.stdout.write(`${JSON.stringify({ command: 'put', url: redactUrl(target), file: localPath, remotePath, transport: options.transport.name, bytes: result.bytes, seconds, rate: seconds > 0 ? result.bytes / seconds : null })}\n`);
      } else {
        io.stderr.write(`${remotePath}: ${formatBytes(result.bytes)} in ${seconds.toFixed(2)} s\n`);
      }
      return EXIT.ok;
    } finally {
      bar.finish();
      await client.close();
    }
  },
};

/** The command table. Add commands here (ping, stats, serve, ...). */
export const commands: Record<string, CliCommand> = { get, ls, put, ...stackCommands, serve: serveCommand(transportFor), load: loadCommand };

// ---- dispatch ----------------------------------------------------------------------------------------------------

function helpText(only?: CliCommand): string {
  const lines = ['usage: ringstack <command> [options]', ''];
  for (const [name, command] of Object.entries(commands)) {
    if (only !== undefined && command !== only) continue;
    lines.push(`  ${name.padEnd(6)} ${command.summary}: ringstack ${command.usage}`);
    if (only === undefined) continue;
    for (const [option, spec] of Object.entries(command.options)) {
      const flag = `${spec.short === undefined ? '    ' : `-${spec.short}, `}--${option}${spec.type === 'string' ? ' VALUE' : ''}`;
      lines.push(`      ${flag.padEnd(26)} ${spec.description}`);
    }
  }
  lines.push('', 'exit codes: 0 ok, 1 failure, 2 usage, 3 connection/timeout, 4 refused by server, 5 protocol error, 6 verification failed, 130 interrupted');
  return `${lines.join('\n')}\n`;
}

function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError) return EXIT.usage;
  if (!(error instanceof FtpError)) return EXIT.failure;
  switch (error.kind) {
    case 'usage': return EXIT.usage;
    case 'connection':
    case 'timeout': return EXIT.connection;
    case 'reply': return EXIT.refused;
    case 'protocol': return EXIT.protocol;
    case 'verify': return EXIT.verify;
    case 'aborted': return EXIT.interrupted;
  }
}

/** Runs one command line (without "node cli.js"); returns the exit code. Never throws. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stderr.write(helpText());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const command = commands[name];
  if (command === undefined) {
    io.stderr.write(`ringstack: unknown command "${name}"\n${helpText()}`);
    return EXIT.usage;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(helpText(command));
    return EXIT.ok;
  }
  try {
    let parsed: { values: OptionValues; positionals: string[] };
    try {
      const options: NonNullable<ParseArgsConfig['options']> = {};
      for (const [option, spec] of Object.entries(command.options)) {
        options[option] = spec.short === undefined ? { type: spec.type } : { type: spec.type, short: spec.short };
      }
      parsed = parseArgs({ args: [...rest], options, allowPositionals: true, strict: true }) as typeof parsed;
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const count = parsed.positionals.length;
    if (count < command.positionals.min || count > command.positionals.max) throw new UsageError(`usage: ringstack ${command.usage}`);
    try {
      return await command.run({ ...parsed, io });
    } finally {
      await closeCliStacks();
    }
  } catch (error) {
    const code = io.signal.aborted ? EXIT.interrupted : exitCodeOf(error);
    const message = error instanceof Error ? error.message : String(error);
    io.stderr.write(`ringstack ${name}: ${redactUrl(message)}\n`);
    return code;
  }
}

// Through npm's bin symlink argv[1] is the link: compare real paths.
const invokedDirectly = process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href;
if (invokedDirectly) {
  const controller = new AbortController();
  // First Ctrl-C: stop cleanly (state saved); a second one: exit at once.
  process.once('SIGINT', () => {
    controller.abort();
    process.once('SIGINT', () => process.exit(EXIT.interrupted));
  });
  process.once('SIGTERM', () => controller.abort());
  // A reader that went away (`ringstack ls … | head`) is not an error of ours.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? EXIT.ok);
    throw error;
  });
  const code = await runCli(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: controller.signal });
  process.exitCode = code;
}
