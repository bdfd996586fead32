// Segmented parallel download: N control+data connections fetch parts of one file into positioned writes.
// Scheduling is dynamic (lftp pget style): a free connection takes a missing range, or else half of the largest
// range still running — never splitting below 2 × minSegmentBytes, so small files use one connection.
// Failures retry with backoff and REST from the last written byte; "421 too many connections" lowers N.
// The file is reported complete only after every range is written and the size (and the server's hash, when
// offered) matches; until then a resume state file lists what is missing.

import { createHash } from 'node:crypto';
import { createReadStream, writevSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { FtpClient, RemoteHash } from './client.js';
import { FtpError, abortError, isFtpError } from './errors.js';
import {
  readResumeState,
  removeResumeState,
  resumeStatePath,
  writeResumeState,
  type ByteRange,
  type ResumeState,
} from './resume-state.js';
import { PositionedWriter } from './positioned-writer.js';
import { sleep } from './wait.js';

export interface SegmentedDownloadOptions {
  /** Opens a new logged-in client (one control connection). Called once per connection, and again to reconnect. */
  readonly connect: (signal: AbortSignal) => Promise<FtpClient>;
  readonly remotePath: string;
  readonly localPath: string;
  /** Connections to use at most (default 4). */
  readonly segments?: number | undefined;
  /** A range is split only if at least twice this much is left (default 4 MiB). */
  readonly minSegmentBytes?: number | undefined;
  /** Failures in a row without progress before giving up (default 5). */
  readonly maxRetries?: number | undefined;
  /** First backoff delay; doubles per failure, at most 10 s (default 300 ms). */
  readonly retryDelayMs?: number | undefined;
  /** Continue from the resume state file if it matches the remote file (default true). */
  readonly resume?: boolean | undefined;
  /** Compute the sha256 of the finished file (default true; not possible when the target is not a regular file). */
  readonly sha256?: boolean | undefined;
  /** How often the resume state is saved while running (default 1000 ms). */
  readonly stateIntervalMs?: number | undefined;
  readonly signal?: AbortSignal | undefined;
  /** Bytes present in the file so far (all segments), and the total. */
  readonly onProgress?: ((done: number, total: number) => void) | undefined;
  readonly log?: ((line: string) => void) | undefined;
}

export interface SegmentedDownloadResult {
  readonly size: number;
  /** Bytes fetched by this run (less than size when resumed). */
  readonly fetched: number;
  /** Bytes that were already present from an earlier run. */
  readonly resumedBytes: number;
  /** Most connections that ran at once. */
  readonly connections: number;
  /** Ranges fetched (initial ranges plus splits plus retries). */
  readonly ranges: number;
  readonly retries: number;
  /** Undefined when not asked for, or when the target is not a regular file (e.g. /dev/null) that can be read back. */
  readonly sha256: string | undefined;
  /** The server's hash, if it offered one (then it matched). */
  readonly remoteHash: RemoteHash | undefined;
}

interface Segment {
  /** The next byte to receive (the server's stream position). */
  pos: number;
  end: number;
  /** Writes the received bytes; its `writtenPosition` trails `pos` by what is still queued. */
  writer: PositionedWriter | undefined;
}

export async function segmentedDownload(options: SegmentedDownloadOptions): Promise<SegmentedDownloadResult> {
  const maxConnections = Math.max(1, Math.floor(options.segments ?? 4));
  const minSegment = Math.max(1, options.minSegmentBytes ?? 4 * 1024 * 1024);
  const maxRetries = options.maxRetries ?? 5;
  const baseDelay = options.retryDelayMs ?? 300;
  const statePath = resumeStatePath(options.localPath);
  const log = options.log ?? (() => undefined);
  const stop = new AbortController();
  const signal = options.signal === undefined ? stop.signal : AbortSignal.any([options.signal, stop.signal]);

  // The first connection learns the size and the modification time (the resume state's identity).
  const first = await options.connect(signal);
  const idleClients: FtpClient[] = [first];
  let size: number;
  let modified: string | null;
  let offersHash: boolean;
  try {
    size = await first.size(options.remotePath);
    modified = await first.lastModified(options.remotePath).then((d) => d.toISOString(), () => null);
    const features = await first.features();
    offersHash = features.has('HASH') || features.has('XSHA256') || features.has('XMD5');
  } catch (error) {
    first.destroy();
    throw error;
  }
  const source = `${options.remotePath}`;

  const previous = options.resume === false ? undefined : await readResumeState(statePath);
  let usable = previous !== undefined && previous.source === source && previous.size === size && previous.modified === modified;
  if (previous !== undefined && !usable) log(`resume state does not match ${options.remotePath} (size or date changed): starting over`);
  let file: FileHandle;
  try {
    file = await open(options.localPath, usable ? 'r+' : 'w').catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT' || !usable) throw error;
      log(`resume state found but ${options.localPath} is gone: starting over`);
      usable = false;
      return open(options.localPath, 'w');
    });
  } catch (error) {
    first.destroy();
    throw new FtpError('usage', `cannot write ${options.localPath}: ${(error as Error).message}`, { cause: error });
  }
  // A device such as /dev/null takes positioned writes but cannot be resumed, size-checked or read back.
  const target = await file.stat();
  const regularFile = target.isFile();
  // A character device (e.g. /dev/null) takes its writes at once: write them on this thread, not the pool's.
  const writeNow = target.isCharacterDevice()
    ? (buffers: Buffer[], position: number): number => writevSync(file.fd, buffers, position)
    : undefined;
  if (!regularFile && usable) {
    await file.close();
    first.destroy();
    throw new FtpError('usage', `${options.localPath} is not a regular file, but a resume state for it exists: delete ${statePath}`);
  }
  const pending: ByteRange[] = usable && previous !== undefined ? [...previous.remaining] : size > 0 ? [{ start: 0, end: size }] : [];

  const missingAtStart = pending.reduce((sum, r) => sum + (r.end - r.start), 0);
  const resumedBytes = size - missingAtStart;
  if (usable) log(`resuming: ${resumedBytes} of ${size} bytes already present`);
  const active = new Set<Segment>();
  let fetched = 0;
  let ranges = 0;
  let retries = 0;
  let running = 0;
  let peak = 0;
  let allowed = maxConnections;
  let fatal: unknown;

  /** What is not in the file yet: pending ranges, and each running range from its last written byte. */
  const remaining = (): ByteRange[] => [
    ...pending,
    ...[...active]
      .map((s) => ({ start: s.writer?.writtenPosition ?? s.pos, end: s.end }))
      .filter((r) => r.start < r.end),
  ];
  const saveState = async (): Promise<void> => {
    if (!regularFile) return;
    // The state must never claim bytes that are not on disk: take it before the sync that makes it true.
    const state: ResumeState = { version: 1, source, size, modified, remaining: remaining() };
    await file.datasync();
    await writeResumeState(statePath, state);
  };
  const progress = (): void => options.onProgress?.(resumedBytes + fetched, size);

  /** A missing range, else half of the largest running one, else nothing (this connection is done). */
  const takeWork = (): Segment | undefined => {
    pending.sort((a, b) => b.end - b.start - (a.end - a.start));
    const range = pending.shift();
    if (range !== undefined) return { pos: range.start, end: range.end, writer: undefined };
    let largest: Segment | undefined;
    for (const segment of active) {
      if (largest === undefined || segment.end - segment.pos > largest.end - largest.pos) largest = segment;
    }
    if (largest === undefined || largest.end - largest.pos < 2 * minSegment) return undefined;
    const middle = largest.pos + Math.floor((largest.end - largest.pos) / 2);
    const split = { pos: middle, end: largest.end, writer: undefined };
    largest.end = middle;
    return split;
  };

  const runConnection = async (index: number): Promise<void> => {
    let client: FtpClient | undefined = idleClients.pop();
    let failures = 0;
    try {
      for (;;) {
        if (signal.aborted || fatal !== undefined) return;
        const segment = takeWork();
        if (segment === undefined) return;
        active.add(segment);
        ranges++;
        const startPos = segment.pos;
        try {
          if (client === undefined || client.closed) {
            client?.destroy();
            client = undefined;
            client = await options.connect(signal);
          }
          const writer = new PositionedWriter(file, segment.pos, { writeNow });
          segment.writer = writer;
          await client.download(
            options.remotePath,
            (chunk) => {
              // Queued, not yet written: `pos` moves on (ranges split from here), the resume state does not.
              const full = writer.write(chunk);
              segment.pos += chunk.length;
              fetched += chunk.length;
              progress();
              return full;
            },
            { offset: segment.pos, end: () => segment.end, size, signal, sinkCopies: true, receiveInto: () => writer.space() },
          );
          await writer.flush();
          active.delete(segment);
          failures = 0;
        } catch (error) {
          // Bytes received before the failure are good: write them, and retry only from where they end.
          const writeFailure = await segment.writer?.flush().then(() => undefined, (e: unknown) => e);
          active.delete(segment);
          if (writeFailure !== undefined) throw writeFailure;
          if (segment.pos < segment.end) pending.push({ start: segment.pos, end: segment.end });
          if (signal.aborted) return;
          if (client?.closed) {
            client.destroy();
            client = undefined;
          }
          const tooMany = isFtpError(error) && error.code === 421;
          if (tooMany && running > 1) {
            // The server allows fewer connections: this one stops, the others take over its range.
            allowed = Math.min(allowed, running - 1);
            log(`connection ${index}: ${(error as Error).message}; continuing with ${allowed}`);
            return;
          }
          if (!retryable(error)) throw error;
          failures = segment.pos > startPos ? 1 : failures + 1;
          retries++;
          if (failures > maxRetries) throw error;
          const delay = Math.min(10_000, baseDelay * 2 ** (failures - 1));
          log(`connection ${index}: ${(error as Error).message}; retry ${failures}/${maxRetries} in ${delay} ms from byte ${segment.pos}`);
          await sleep(delay, signal);
        }
      }
    } catch (error) {
      if (fatal === undefined && !signal.aborted) fatal = error;
      stop.abort();
    } finally {
      running--;
      if (client !== undefined) {
        if (signal.aborted) client.destroy();
        else await client.close();
      }
    }
  };

  await saveState();
  const stateTimer = setInterval(() => void saveState().catch(() => undefined), options.stateIntervalMs ?? 1000);
  try {
    const connections: Promise<void>[] = [];
    // Connections start one by one as long as there is work to split; each checks the (lowered) limit.
    const launch = (index: number): void => {
      running++;
      peak = Math.max(peak, running);
      connections.push(runConnection(index));
    };
    launch(0);
    for (let index = 1; index < maxConnections; index++) {
      if (index >= allowed || signal.aborted) break;
      const largest = Math.max(0, ...remaining().map((r) => r.end - r.start));
      if (largest < 2 * minSegment) break;
      launch(index);
    }
    await Promise.all(connections);
    // A connection may have stopped (421) leaving ranges behind while the others finished: run them again.
    while (fatal === undefined && !signal.aborted && pending.length > 0) {
      launch(connections.length);
      await Promise.all(connections);
    }
  } finally {
    clearInterval(stateTimer);
  }

  try {
    if (fatal !== undefined || signal.aborted || pending.length > 0 || active.size > 0) {
      await saveState().catch(() => undefined);
      if (fatal !== undefined) throw fatal;
      if (signal.aborted) throw abortError(signal);
      throw new FtpError('connection', `download incomplete: ${remaining().length} ranges missing`);
    }
    const received = resumedBytes + fetched;
    if (received !== size) throw new FtpError('verify', `received ${received} bytes of ${options.localPath}, the server's file has ${size}`);
    const onDisk = regularFile ? (await file.stat()).size : size;
    if (onDisk !== size) throw new FtpError('verify', `${options.localPath} has ${onDisk} bytes, the server's file ${size}`);
  } finally {
    await file.close();
  }

  const sha256 = options.sha256 === false || !regularFile ? undefined : await hashFile(options.localPath, 'sha256');
  if (offersHash && !regularFile) log(`${options.localPath} is not a regular file: the server's hash cannot be checked`);
  const remoteHash = offersHash && regularFile ? await remoteHashOf(options, signal) : undefined;
  if (remoteHash !== undefined) {
    const local = remoteHash.algorithm === 'sha256' && sha256 !== undefined ? sha256 : await hashFile(options.localPath, remoteHash.algorithm);
    if (local !== remoteHash.hex) {
      await removeResumeState(statePath);
      throw new FtpError('verify', `${remoteHash.algorithm} of ${options.localPath} is ${local}, the server says ${remoteHash.hex}`);
    }
  }
  await removeResumeState(statePath);
  return { size, fetched, resumedBytes, connections: peak, ranges, retries, sha256, remoteHash };
}

/** Errors worth another try: lost or timed-out connections and transient (4xx) replies. */
function retryable(error: unknown): boolean {
  if (!isFtpError(error)) return false;
  if (error.kind === 'connection' || error.kind === 'timeout') return true;
  return error.kind === 'reply' && error.code !== undefined && error.code >= 400 && error.code < 500;
}

async function remoteHashOf(options: SegmentedDownloadOptions, signal: AbortSignal): Promise<RemoteHash | undefined> {
  const client = await options.connect(signal);
  try {
    return await client.remoteHash(options.remotePath);
  } finally {
    await client.close();
  }
}

function hashFile(path: string, algorithm: 'sha256' | 'sha1' | 'md5'): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash(algorithm);
    createReadStream(path, { highWaterMark: 1024 * 1024 })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', () => resolve(hash.digest('hex')));
  });
}
