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
  it('stages chunks into buffers and writes the buffers filled during a write in one writev', async () => {
    const file = new ManualFile();
    const writer = new PositionedWriter(file, 100, { bufferBytes: 8, buffers: 8 });
    for (let i = 1; i <= 5; i++) expect(writer.write(chunk(8, i))).toBeUndefined();
    expect(writer.write(chunk(3, 6))).toBeUndefined(); // stays staged until flush
    expect(writer.pendingBytes).toBe(43);
    expect(file.calls).toEqual([{ buffers: 1, bytes: 8, position: 100 }]);
    const flushed = writer.flush();
    await file.completeAll();
    await flushed;
    expect(file.calls).toEqual([
      { buffers: 1, bytes: 8, position: 100 },
      { buffers: 5, bytes: 35, position: 108 },
    ]);
    expect(writer.writtenPosition).toBe(143);
    expect(writer.pendingBytes).toBe(0);
    for (let i = 1; i <= 5; i++) expect(file.content.subarray(100 + (i - 1) * 8, 100 + i * 8).every((b) => b === i)).toBe(true);
    expect([...file.content.subarray(140, 143)]).toEqual([6, 6, 6]);
  });

  it('copies: a chunk the caller reuses at once is written as it was', async () => {
    const file = new ManualFile();
    const writer = new PositionedWriter(file, 0, { bufferBytes: 64 });
    const reused = Buffer.alloc(10);
    for (let i = 1; i <= 3; i++) {
      reused.fill(i);
      writer.write(reused);
    }
    const flushed = writer.flush();
    await file.completeAll();
    await flushed;
    expect([...file.content.subarray(0, 30)]).toEqual([...Array(10).fill(1), ...Array(10).fill(2), ...Array(10).fill(3)]);
  });

  it('keeps bytes read into space() where they are, and copies any other chunk after them', async () => {
    const file = new ManualFile();
    const written: Buffer[] = [];
    const writev = file.writev.bind(file);
    file.writev = (buffers, position) => (written.push(...buffers), writev(buffers, position));
    const writer = new PositionedWriter(file, 0, { bufferBytes: 16 });
    const first = writer.space();
    expect(first.length).toBe(16);
    first.fill(1, 0, 6); // a read of 6 bytes straight into the space
    expect(writer.write(first.subarray(0, 6))).toBeUndefined();
    const second = writer.space();
    expect(second.buffer).toBe(first.buffer);
    expect(second.byteOffset).toBe(first.byteOffset + 6);
    expect(second.length).toBe(10);
    writer.write(chunk(4, 2)); // a chunk from elsewhere: copied after the first six
    const third = writer.space();
    third.fill(3, 0, 6); // a read of 6 of which the reader keeps 2 (the range ended): the rest is not accepted
    writer.write(third.subarray(0, 2));
    third.fill(9, 2); // the space after the accepted bytes is the next read's: nothing accepted changes
    const fourth = writer.space();
    expect(fourth.byteOffset).toBe(first.byteOffset + 12);
    fourth.fill(4);
    writer.write(fourth); // fills the buffer: submitted for writing
    expect(writer.pendingBytes).toBe(16);
    const flushed = writer.flush();
    await file.completeAll();
    await flushed;
    expect([...file.content.subarray(0, 16)]).toEqual([1, 1, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 4, 4, 4, 4]);
    expect(written[0]?.buffer).toBe(first.buffer); // the bytes were written from where they were read
  });

  it('continues a short write where it stopped', async () => {
    const file = new ManualFile();
    file.maxPerCall = 7;
    const writer = new PositionedWriter(file, 0, { bufferBytes: 5 });
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

  it('asks the caller to wait while every staging buffer is in use, and lets it go when one is free', async () => {
    const file = new ManualFile();
    const writer = new PositionedWriter(file, 0, { bufferBytes: 10, buffers: 2 });
    expect(writer.write(chunk(10, 1))).toBeUndefined(); // buffer 1 full: being written
    const wait = writer.write(chunk(10, 2)); // buffer 2 full and queued: none left
    expect(wait).toBeInstanceOf(Promise);
    let released = false;
    void wait?.then(() => (released = true));
    await Promise.resolve();
    expect(released).toBe(false);
    await file.complete(); // buffer 1 is free again
    await Promise.resolve();
    expect(released).toBe(true);
    const flushed = writer.flush();
    await file.completeAll();
    await flushed;
    expect(writer.writtenPosition).toBe(20);
  });

  it('reports a failed write to the waiting caller, to flush and to every later write', async () => {
    const file = new ManualFile();
    const writer = new PositionedWriter(file, 40, { bufferBytes: 8, buffers: 1 });
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

  it('with writeNow, writes each full buffer at once on the caller\'s thread, repeating short writes', async () => {
    const file = new ManualFile();
    const content = Buffer.alloc(64);
    const calls: { position: number; bytes: number }[] = [];
    const writeNow = (buffers: Buffer[], position: number): number => {
      const offered = Buffer.concat(buffers);
      const take = Math.min(offered.length, 3); // a device that takes 3 bytes per call
      offered.copy(content, position, 0, take);
      calls.push({ position, bytes: take });
      return take;
    };
    const writer = new PositionedWriter(file, 10, { bufferBytes: 8, buffers: 1, writeNow });
    expect(writer.write(Buffer.from('abcdefghij'))).toBeUndefined();
    // The first 8 bytes are written before write returns; the last 2 are staged.
    expect(writer.writtenPosition).toBe(18);
    expect(writer.pendingBytes).toBe(2);
    expect(calls.map((c) => c.position)).toEqual([10, 13, 16]);
    const space = writer.space();
    space.set(Buffer.from('klmnop'));
    expect(writer.write(space.subarray(0, 6))).toBeUndefined();
    await writer.flush();
    expect(writer.writtenPosition).toBe(26);
    expect(content.subarray(10, 26).toString()).toBe('abcdefghijklmnop');
    expect(file.calls).toEqual([]);
  });

  it('with writeNow, a failed write throws from write, and from flush and every later write', async () => {
    let accept = true;
    const writeNow = (buffers: Buffer[]): number => {
      if (!accept) throw Object.assign(new Error('No space left on device'), { code: 'ENOSPC' });
      return buffers.reduce((sum, b) => sum + b.length, 0);
    };
    const writer = new PositionedWriter(new ManualFile(), 0, { bufferBytes: 4, writeNow });
    writer.write(chunk(4, 1));
    accept = false;
    expect(() => writer.write(chunk(4, 2))).toThrow(/cannot write at byte 4: No space left on device/);
    await expect(writer.flush()).rejects.toThrow(/No space left/);
    expect(() => writer.write(chunk(1, 1))).toThrow(/No space left/);
    expect(writer.writtenPosition).toBe(4);
  });

  it('with writeNow, a write that takes no bytes is an error, not a loop', () => {
    const writer = new PositionedWriter(new ManualFile(), 0, { bufferBytes: 2, writeNow: () => 0 });
    expect(() => writer.write(chunk(2, 1))).toThrow(/accepted no bytes/);
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
        const writers = [new PositionedWriter(handle, 0, { bufferBytes: 100_000 }), new PositionedWriter(handle, half, { bufferBytes: 100_000 })];
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
