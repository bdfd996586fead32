// A piscina task of `ringstack load`: one FTP client in an application thread, on a stack shared by the pool (or
// on node:net with --kernel), fetching one file over one control connection until its budget is spent.
import { FtpClient, NetTransport, type FtpTransport } from '../ftp/index.js';
import { attachStack, type StackHandle } from './app-thread.js';
import { ringstackTransport } from './ftp-transport.js';

export interface LoadTask {
  /** null: the kernel's TCP (node:net). */
  readonly handle: StackHandle | null;
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly password: string;
  readonly path: string;
  /** Stop after this many fetches (this client's share), or at `deadline` (ms since the epoch), whichever first. */
  readonly count: number;
  readonly deadline: number;
  readonly timeoutMs: number;
}

export interface LoadResult {
  readonly fetches: number;
  readonly bytes: number;
  /** Per fetch, ms. */
  readonly latencies: number[];
  readonly errors: string[];
}

export default async function load(task: LoadTask): Promise<LoadResult> {
  const transport: FtpTransport = task.handle ? ringstackTransport(attachStack(task.handle)) : new NetTransport();
  const latencies: number[] = [];
  const errors: string[] = [];
  let bytes = 0;
  let client: FtpClient | null = null;
  const timeouts = { connectMs: task.timeoutMs, replyMs: task.timeoutMs, dataIdleMs: task.timeoutMs };
  while (latencies.length < task.count && Date.now() < task.deadline) {
    const started = performance.now();
    try {
      if (!client) {
        client = await FtpClient.connect({ transport, host: task.host, port: task.port, timeouts });
        await client.login({ user: task.user, password: task.password });
      }
      await client.download(task.path, (chunk) => {
        bytes += chunk.length;
      });
      latencies.push(performance.now() - started);
    } catch (error) {
      errors.push(error instanceof Error ? error.message : String(error));
      client?.destroy();
      client = null;
      if (errors.length > 20) break; // a broken server: report, do not spin
    }
  }
  await client?.close().catch(() => undefined);
  return { fetches: latencies.length, bytes, latencies, errors };
}
