import { expect } from 'vitest';
import type { FtpClient } from '../../src/ftp/client.js';
import { FtpError } from '../../src/ftp/errors.js';

/** Downloads `path` into memory. */
export async function downloadToBuffer(client: FtpClient, path: string, options: Parameters<FtpClient['download']>[2] = {}): Promise<Buffer> {
  const chunks: Buffer[] = [];
  await client.download(path, (chunk) => void chunks.push(Buffer.from(chunk)), options);
  return Buffer.concat(chunks);
}

/** The FtpError `promise` rejects with; fails the test if it resolves or rejects with something else. */
export async function rejection(promise: Promise<unknown>): Promise<FtpError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(FtpError);
    return error as FtpError;
  }
  throw new Error('expected a rejection');
}
