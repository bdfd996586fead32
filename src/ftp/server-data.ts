// The server's data connections: how one is made (passive: accepted on a listener, only from the control
// connection's peer — RFC 2577 §5 "port stealing"; active: connected to the address PORT/EPRT named, already
// checked), and the bytes that travel on it: a file read by positioned reads, one chunk at a time, so memory stays
// bounded whatever the file's size and the writer waits for the socket (backpressure, see sendData).

import type { FileHandle } from 'node:fs/promises';
import { FtpError } from './errors.js';
import { unmapIPv4, type HostPort } from './passive.js';
import type { FtpListener, FtpSocket, FtpTransport } from './transport.js';

export type DataPlan =
  | { readonly kind: 'passive'; readonly listener: FtpListener }
  | { readonly kind: 'active'; readonly target: HostPort };

export interface OpenDataOptions {
  readonly transport: FtpTransport;
  /** The control connection's peer: the only address a data connection may come from. */
  readonly controlPeer: string;
  readonly timeoutMs: number;
  readonly signal: AbortSignal;
  /** Called with the address of each connection refused because it came from another host. */
  readonly onForeign?: ((address: string) => void) | undefined;
}

/** Makes the data connection `plan` describes; a passive listener is closed either way. */
export async function openDataConnection(plan: DataPlan, options: OpenDataOptions): Promise<FtpSocket> {
  if (plan.kind === 'active') {
    return options.transport.connect({ host: plan.target.host, port: plan.target.port, timeoutMs: options.timeoutMs, signal: options.signal });
  }
  const deadline = Date.now() + options.timeoutMs;
  const peer = unmapIPv4(options.controlPeer);
  try {
    for (;;) {
      let socket: FtpSocket;
      try {
        socket = await plan.listener.accept({ timeoutMs: Math.max(1, deadline - Date.now()), signal: options.signal });
      } catch (error) {
        if (error instanceof FtpError && error.kind === 'timeout') {
          throw new FtpError('timeout', `no data connection from ${peer} within ${options.timeoutMs} ms`);
        }
        throw error;
      }
      const from = unmapIPv4(socket.remoteAddress ?? '');
      if (from === peer) return socket;
      socket.destroy();
      options.onForeign?.(from);
    }
  } finally {
    plan.listener.close();
  }
}

/** Releases what a plan holds (a passive listener) when it will not be used. */
export function discardPlan(plan: DataPlan | undefined): void {
  if (plan?.kind === 'passive') plan.listener.close();
}

/** A file's bytes from `start` to its end, `chunkBytes` at a time by positioned reads (no shared file offset). */
export async function* fileChunks(handle: FileHandle, start: number, chunkBytes: number): AsyncGenerator<Buffer> {
  let position = start;
  for (;;) {
    const buffer = Buffer.allocUnsafe(chunkBytes);
    const { bytesRead } = await handle.read(buffer, 0, chunkBytes, position);
    if (bytesRead === 0) return;
    position += bytesRead;
    yield bytesRead === chunkBytes ? buffer : buffer.subarray(0, bytesRead);
  }
}

/** Text lines (a listing) as CRLF-terminated chunks of about `chunkBytes`. */
export async function* lineChunks(lines: Iterable<string>, chunkBytes = 64 * 1024): AsyncGenerator<Buffer> {
  let parts: string[] = [];
  let size = 0;
  for (const line of lines) {
    parts.push(`${line}\r\n`);
    size += line.length + 2;
    if (size >= chunkBytes) {
      yield Buffer.from(parts.join(''), 'utf8');
      parts = [];
      size = 0;
    }
  }
  if (parts.length > 0) yield Buffer.from(parts.join(''), 'utf8');
}

/** Maps each chunk of `source` through `transform` (TYPE A conversion). */
export async function* mapChunks(source: AsyncIterable<Buffer>, transform: (chunk: Buffer) => Buffer): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    const out = transform(chunk);
    if (out.length > 0) yield out;
  }
}
