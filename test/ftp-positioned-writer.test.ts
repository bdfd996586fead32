// PositionedWriter: coalesced positioned writes (one writev per batch), short writes, the high-water mark and
// write failures; and a real file written by two writers at different positions, as segments do.

import { describe, expect, it } from 'vitest';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { FtpError } from '../src/ftp/errors.js';
import { PositionedWriter, type PositionedFile } from '../src/ftp/positioned-writer.js';

/** A file in memory whose writev calls complete only when the test lets them (`complete`). */
class ManualFile implements PositionedFile {
  readonly calls: { buffers: number; bytes: number; position: number }[] = [];
  readonly content = Buffer.alloc(1 << 16);
  /** Bytes each call accepts at most (a short write when less than offered). */
  maxPerCall = Infinity;
  failWith: Error | undefined;
  private releases: (() => void)[] = [];

  writev(buffers: Buffer[], position: number): Promise<{ bytesWritten: number }> {
    const at = position;
    const offered = buffers.reduce((sum, b) => sum + b.byteLength, 0);
    this.calls.push({ buffers: buffers.length, bytes: offered, position: at });
    return new Promise((resolve, reject) => {
      this.releases.push(() => {
        if (this.failWith !== undefined) {
          reject(this.failWith);
          return;
        }
        let written = 0;
        for (const b of buffers) {
          const take = Math.min(b.length, this.maxPerCall - written);
          if (take <= 0) break;
          this.content.set(b.subarray(0, take), at + written);
          written += take;
        }
        resolve({ bytesWritten: written });
      });
    });
  }

  /** Completes the oldest pending writev; returns false if none is pending. */
  async complete(): Promise<boolean> {
    for (let i = 0; i < 5 && this.releases.length === 0; i++) await Promise.resolve();
    const release = this.releases.shift();
    if (release === undefined) return false;
    release();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    return true;
  }

  async completeAll(): Promise<void> {
    while (await this.complete());
  }
}

const chunk = (length: number, fill: number): Buffer => Buffer.alloc(length, fill);

describe('PositionedWriter', () => {
  it('writes chunks queued during a write in one writev, at the right positions', async () => {
    const file = new ManualFile();
    const writer = new PositionedWriter(file, 100);
    expect(writer.write(chunk(10, 1))).toBeUndefined();
    for (let i = 2; i <= 5; i++) expect(writer.write(chunk(10, i))).toBeUndefined();
    expect(writer.pendingBytes).toBe(50);
    await file.completeAll();
    await writer.flush();
    expect(file.calls).toEqual([
      { buffers: 1, bytes: 10, position: 100 },
      { buffers: 4, bytes: 40, position: 110 },
    ]);
    expect(writer.writtenPosition).toBe(150);
    expect(writer.pendingBytes).toBe(0);
    for (let i = 1; i <= 5; i++) expect(file.content.subarray(100 + (i - 1) * 10, 100 + i * 10).every((b) => b === i)).toBe(true);
  });

  it('continues a short write where it stopped', async () => {
    const file = new ManualFile();
    file.maxPerCall = 7;
    const writer = new PositionedWriter(file, 0);
    writer.write(chunk(5, 1));
    writer.write(chunk(5, 2));
    writer.write(chunk(5, 3));
    const flushed = writer.flush();
    await file.completeAll();
    await flushed;
    expect(writer.writtenPosition).toBe(15);
    expect([...file.content.subarray(0, 15)]).toEqual([1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3]);
    expect(file.calls.map((c) => c.position)).toEqual([0, 5, 12]);
  });

  it('asks the caller to wait above the high-water mark, and lets it go once below', async () => {
    const file = new ManualFile();
    const writer = new PositionedWriter(file, 0, { highWaterMark: 25 });
    expect(writer.write(chunk(10, 1))).toBeUndefined();
    expect(writer.write(chunk(10, 2))).toBeUndefined();
    const wait = writer.write(chunk(10, 3));
    expect(wait).toBeInstanceOf(Promise);
    let released = false;
    void wait?.then(() => (released = true));
    await file.complete(); // the first chunk: 20 bytes still queued, below 25
    await Promise.resolve();
    expect(released).toBe(true);
    await file.completeAll();
    await writer.flush();
    expect(writer.writtenPosition).toBe(30);
  });

  it('reports a failed write to the waiting caller, to flush and to every later write', async () => {
    const file = new ManualFile();
    const writer = new PositionedWriter(file, 40, { highWaterMark: 10 });
    file.failWith = Object.assign(new Error('No space left on device'), { code: 'ENOSPC' });
    const wait = writer.write(chunk(16, 1));
    const waited = wait?.then(() => undefined, (error: unknown) => error);
    await file.completeAll();
    const error = await waited;
    expect(error).toBeInstanceOf(FtpError);
    expect((error as FtpError).message).toMatch(/cannot write at byte 40: No space left on device/);
    await expect(writer.flush()).rejects.toThrow(/No space left/);
    expect(() => writer.write(chunk(1, 1))).toThrow(/No space left/);
    expect(writer.writtenPosition).toBe(40);
  });

  it('refuses a position that is not a byte offset', () => {
    expect(() => new PositionedWriter(new ManualFile(), -1)).toThrow(RangeError);
    expect(() => new PositionedWriter(new ManualFile(), 1.5)).toThrow(RangeError);
  });

  it('two writers fill two halves of a real file, as two segments do', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ringstack-pw-'));
    try {
      const data = randomBytes(3 * 1024 * 1024 + 17);
      const half = Math.floor(data.length / 2);
      const handle = await open(join(dir, 'out.bin'), 'w');
      try {
        const writers = [new PositionedWriter(handle, 0, { highWaterMark: 256 * 1024 }), new PositionedWriter(handle, half, { highWaterMark: 256 * 1024 })];
        const ranges: [number, number][] = [[0, half], [half, data.length]];
        await Promise.all(
          writers.map(async (writer, i) => {
            const [start, end] = ranges[i] as [number, number];
            for (let at = start; at < end; at += 65_536) await writer.write(data.subarray(at, Math.min(end, at + 65_536)));
            await writer.flush();
          }),
        );
        expect(writers.map((w) => w.writtenPosition)).toEqual([half, data.length]);
      } finally {
        await handle.close();
      }
      expect((await readFile(join(dir, 'out.bin'))).equals(data)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
