// Control-connection replies, RFC 959 §4.2: "xyz text" on one line, or "xyz-text" ... up to a line that starts
// with the same code followed by a space. Lines in between are free text (they may even start with digits).
// The parser is incremental and bounded: a server cannot make us buffer an endless line or an endless reply.

import { FtpError } from './errors.js';

export interface FtpReply {
  /** Three-digit reply code, 100–599. */
  readonly code: number;
  /** Every line of the reply without its CRLF, the code prefix included. */
  readonly lines: readonly string[];
  /** The message: the lines with the leading "xyz-"/"xyz " of the first and last removed, joined by "\n". */
  readonly message: string;
}

export interface ReplyLimits {
  /** Longest accepted line in bytes (without CRLF). */
  readonly maxLineBytes: number;
  /** Largest accepted reply (all lines) in bytes. */
  readonly maxReplyBytes: number;
}

export const DEFAULT_REPLY_LIMITS: ReplyLimits = { maxLineBytes: 8192, maxReplyBytes: 256 * 1024 };

const LF = 0x0a;
const CR = 0x0d;

export function isPreliminary(reply: FtpReply): boolean {
  return reply.code >= 100 && reply.code < 200;
}
export function isPositive(reply: FtpReply): boolean {
  return reply.code >= 200 && reply.code < 400;
}
export function isCompletion(reply: FtpReply): boolean {
  return reply.code >= 200 && reply.code < 300;
}
export function isNegative(reply: FtpReply): boolean {
  return reply.code >= 400;
}

export function describeReply(reply: FtpReply): string {
  return `${reply.code} ${reply.message.replace(/\n/g, ' | ')}`;
}

/** Splits a byte stream into replies; feed it every chunk read from the control connection. */
export class ReplyParser {
  private readonly limits: ReplyLimits;
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private openCode = 0; // code of an unfinished multi-line reply, 0 if none
  private openLines: string[] = [];
  private openBytes = 0;
  private failure: FtpError | undefined;

  constructor(limits: Partial<ReplyLimits> = {}) {
    this.limits = { ...DEFAULT_REPLY_LIMITS, ...limits };
  }

  /** True while bytes of an unfinished reply are buffered. */
  get pending(): boolean {
    return this.partialBytes > 0 || this.openCode !== 0;
  }

  /** Set once the stream was malformed; every later `push` throws it. */
  get error(): FtpError | undefined {
    return this.failure;
  }

  /**
   * Consumes `chunk` and returns the replies it completed. Throws FtpError('protocol') on a malformed stream —
   * unless replies were completed before the bad line in the same chunk: those are returned (nothing is lost)
   * and the error is kept in `error` and thrown by the next `push`.
   */
  push(chunk: Uint8Array): FtpReply[] {
    if (this.failure !== undefined) throw this.failure;
    const replies: FtpReply[] = [];
    try {
      this.parse(chunk, replies);
    } catch (error) {
      this.failure = error instanceof FtpError ? error : new FtpError('protocol', String(error));
      if (replies.length === 0) throw this.failure;
    }
    return replies;
  }

  private parse(chunk: Uint8Array, replies: FtpReply[]): void {
    const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    let start = 0;
    while (start < bytes.length) {
      const lf = bytes.indexOf(LF, start);
      const end = lf === -1 ? bytes.length : lf;
      const size = this.partialBytes + (end - start);
      if (size > this.limits.maxLineBytes + 1) {
        throw new FtpError('protocol', `control reply line longer than ${this.limits.maxLineBytes} bytes`);
      }
      if (lf === -1) {
        this.partial.push(Buffer.from(bytes.subarray(start, end)));
        this.partialBytes += end - start;
        break;
      }
      // CRLF is the rule; a bare LF is tolerated (some servers), a stray CR before LF is removed.
      let line: string;
      let lineBytes: number;
      if (this.partialBytes === 0) {
        // The whole line is in this chunk: decoded where it lies (replies are a fetch's hot path).
        const stop = end > start && bytes[end - 1] === CR ? end - 1 : end;
        lineBytes = stop - start;
        if (lineBytes > this.limits.maxLineBytes) {
          throw new FtpError('protocol', `control reply line longer than ${this.limits.maxLineBytes} bytes`);
        }
        line = decodeUtf8(bytes, start, stop);
      } else {
        this.partial.push(Buffer.from(bytes.subarray(start, end)));
        const joined = Buffer.concat(this.partial);
        this.partial = [];
        this.partialBytes = 0;
        const stop = joined.length > 0 && joined[joined.length - 1] === CR ? joined.length - 1 : joined.length;
        lineBytes = stop;
        if (lineBytes > this.limits.maxLineBytes) {
          throw new FtpError('protocol', `control reply line longer than ${this.limits.maxLineBytes} bytes`);
        }
        line = decodeUtf8(joined, 0, stop);
      }
      const reply = this.acceptLine(line, lineBytes);
      if (reply !== undefined) replies.push(reply);
      start = lf + 1;
    }
  }

  private acceptLine(line: string, bytes: number): FtpReply | undefined {
    const code = replyCodeOf(line);
    if (this.openCode === 0) {
      if (code === undefined) {
        throw new FtpError('protocol', `malformed control reply line: ${JSON.stringify(truncate(line))}`);
      }
      const separator = line.charAt(3);
      if (separator === '-') {
        this.openCode = code;
        this.openLines = [line];
        this.openBytes = bytes;
        return undefined;
      }
      if (separator !== ' ' && separator !== '') {
        throw new FtpError('protocol', `malformed control reply line: ${JSON.stringify(truncate(line))}`);
      }
      return { code, lines: [line], message: line.slice(4) };
    }
    this.openBytes += bytes + 2;
    if (this.openBytes > this.limits.maxReplyBytes) {
      throw new FtpError('protocol', `multi-line control reply larger than ${this.limits.maxReplyBytes} bytes`);
    }
    this.openLines.push(line);
    // §4.2: the reply ends at a line that starts with the same code followed by a space (or just the code).
    if (code === this.openCode && (line.length === 3 || line.charAt(3) === ' ')) {
      const lines = this.openLines;
      this.openCode = 0;
      this.openLines = [];
      this.openBytes = 0;
      return { code, lines, message: multiLineMessage(lines) };
    }
    return undefined;
  }
}

/**
 * UTF-8, invalid sequences replaced by U+FFFD, a leading byte order mark dropped: what TextDecoder did per line,
 * without its per-call cost.
 */
function decodeUtf8(bytes: Buffer, start: number, end: number): string {
  const text = bytes.toString('utf8', start, end);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

function replyCodeOf(line: string): number | undefined {
  if (line.length < 3) return undefined;
  const c0 = line.charCodeAt(0);
  const c1 = line.charCodeAt(1);
  const c2 = line.charCodeAt(2);
  // First digit 1–5, the others 0–9 (RFC 959 §4.2.1).
  if (c0 < 0x31 || c0 > 0x35 || c1 < 0x30 || c1 > 0x39 || c2 < 0x30 || c2 > 0x39) return undefined;
  return (c0 - 0x30) * 100 + (c1 - 0x30) * 10 + (c2 - 0x30);
}

function multiLineMessage(lines: readonly string[]): string {
  const last = lines.length - 1;
  return lines
    .map((line, i) => (i === 0 || i === last ? line.slice(4) : line))
    .join('\n');
}

function truncate(text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}
