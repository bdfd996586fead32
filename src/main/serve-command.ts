// `ringstack serve DIR`: the FTP server (src/ftp/server.ts) from the command line. The command is built with the
// CLI's transport chooser, so `--kernel` and the ringstack transport are decided in one place (cli.ts).

import { readFile } from 'node:fs/promises';
import { FtpError, FtpServer, type FtpServerOptions, type FtpTransport } from '../ftp/index.js';
import type { CliCommand, CliIo, CliOption } from './cli.js';
import { stackOptions } from './cli-stack.js';

type OptionValues = Record<string, string | boolean | undefined>;

const serveOptions = {
  ...stackOptions,
  kernel: { type: 'boolean', description: 'use the kernel TCP/IP (node:net) instead of the ringstack stack' },
  port: { type: 'string', description: 'control port (default 2121; 0: any free port, printed)' },
  host: { type: 'string', description: 'address to listen on (default 127.0.0.1; 0.0.0.0: every address)' },
  upload: { type: 'string', description: 'writable directory, shown as /upload (users may STOR/APPE/DELE there)' },
  user: { type: 'string', description: 'a user login NAME:PASSWORD (anonymous logins stay on unless --no-anonymous)' },
  'no-anonymous': { type: 'boolean', description: 'refuse anonymous logins' },
  'anonymous-upload': { type: 'boolean', description: 'let anonymous users write to the upload directory too' },
  'max-per-ip': { type: 'string', description: 'sessions at once from one address (default 8; more get 421)' },
  'max-sessions': { type: 'string', description: 'sessions at once in all (default 64)' },
  'idle-timeout': { type: 'string', description: 'seconds a control connection may stay silent (default 300)' },
  'tls-cert': { type: 'string', description: 'PEM certificate: offer explicit FTPS (AUTH TLS); needs --tls-key' },
  'tls-key': { type: 'string', description: 'PEM private key for --tls-cert' },
  json: { type: 'boolean', description: 'print a JSON line when listening and the counters when stopped, on stdout' },
  verbose: { type: 'boolean', short: 'v', description: 'log every command (passwords hidden) and reply to stderr' },
} as const satisfies Record<string, CliOption>;

function usage(message: string): FtpError {
  return new FtpError('usage', message);
}

function positiveInteger(values: OptionValues, name: string): number | undefined {
  const text = values[name];
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < 1) throw usage(`--${name} must be a positive integer`);
  return value;
}

/** The `serve` entry of the command table; `transportFor` is the CLI's transport chooser. */
export function serveCommand(transportFor: (values: OptionValues, io: CliIo) => FtpTransport): CliCommand {
  return {
    summary: 'serve a directory over FTP',
    usage: 'serve DIR [--port N] [--host ADDR] [--upload DIR] [--user U:P] [--max-per-ip N] [--tls-cert F --tls-key F] [--kernel] [--json]',
    options: serveOptions,
    positionals: { min: 1, max: 1 },
    async run({ values, positionals, io }) {
      const transport = transportFor(values, io);
      const port = values['port'] === undefined ? 2121 : Number(values['port']);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw usage('--port must be 0-65535');
      const host = typeof values['host'] === 'string' ? values['host'] : '127.0.0.1';
      const users: { name: string; password: string }[] = [];
      if (typeof values['user'] === 'string') {
        const colon = values['user'].indexOf(':');
        if (colon < 1) throw usage('--user wants NAME:PASSWORD');
        users.push({ name: values['user'].slice(0, colon), password: values['user'].slice(colon + 1) });
      }
      const cert = values['tls-cert'];
      const key = values['tls-key'];
      if ((cert === undefined) !== (key === undefined)) throw usage('--tls-cert and --tls-key go together');
      const idleSeconds = values['idle-timeout'] === undefined ? undefined : Number(values['idle-timeout']);
      if (idleSeconds !== undefined && !(idleSeconds > 0)) throw usage('--idle-timeout must be a positive number of seconds');
      const limits: NonNullable<FtpServerOptions['limits']> = {
        ...(positiveInteger(values, 'max-per-ip') === undefined ? {} : { maxSessionsPerAddress: positiveInteger(values, 'max-per-ip') }),
        ...(positiveInteger(values, 'max-sessions') === undefined ? {} : { maxSessions: positiveInteger(values, 'max-sessions') }),
        ...(idleSeconds === undefined ? {} : { idleMs: Math.round(idleSeconds * 1000) }),
      };
      const server = new FtpServer({
        transport,
        root: positionals[0],
        upload: typeof values['upload'] === 'string' ? { dir: values['upload'] } : undefined,
        anonymous: values['no-anonymous'] !== true,
        anonymousUpload: values['anonymous-upload'] === true,
        users,
        tls: typeof cert === 'string' && typeof key === 'string' ? { cert: await readFile(cert), key: await readFile(key) } : undefined,
        limits,
        log: values['verbose'] === true ? (line) => io.stderr.write(`${line}\n`) : undefined,
      });
      let address;
      try {
        address = await server.listen({ host, port });
      } catch (error) {
        throw new FtpError('connection', `cannot serve ${positionals[0]}: ${(error as Error).message}`, { cause: error });
      }
      const upload = typeof values['upload'] === 'string' ? `, upload ${values['upload']} as /upload` : '';
      io.stderr.write(`ringstack serve: listening on ${address.host}:${address.port} (root ${positionals[0]}${upload}, transport ${transport.name}); Ctrl-C stops\n`);
      if (values['json'] === true) io.stdout.write(`${JSON.stringify({ event: 'listening', host: address.host, port: address.port })}\n`);
      if (!io.signal.aborted) await new Promise<void>((resolve) => io.signal.addEventListener('abort', () => resolve(), { once: true }));
      await server.close();
      const counters = server.counters;
      if (values['json'] === true) io.stdout.write(`${JSON.stringify({ event: 'closed', counters })}\n`);
      else io.stderr.write(`ringstack serve: stopped after ${counters.sessionsAccepted} sessions, ${counters.transfersCompleted} transfers, ${counters.bytesSent} bytes sent, ${counters.bytesReceived} received\n`);
      return 0;
    },
  };
}
