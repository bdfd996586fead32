// The server's side of the control connection's input: a byte stream split into command lines (RFC 959 §4.1,
// §5.3). Bounded: a line longer than the limit is reported once and skipped to its end, never buffered whole.
// Telnet IAC sequences are removed (clients send "IAC IP IAC DM" before ABOR; the DM byte travels as urgent data,
// which the kernel keeps out of the stream, so an IAC may be followed by an ordinary byte).

export const DEFAULT_MAX_COMMAND_LINE_BYTES = 4096;

export type CommandInput =
  | { readonly kind: 'command'; readonly verb: string; readonly arg: string }
  | { readonly kind: 'invalid'; readonly reason: string };

const LF = 0x0a;
const CR = 0x0d;
const IAC = 0xff;

/** Splits `VERB[ arg]` (the line without its CRLF); the verb is upper-cased, the argument kept verbatim. */
export function parseCommandLine(line: string): CommandInput {
  const space = line.indexOf(' ');
  const verb = space === -1 ? line : line.slice(0, space);
  // RFC 959 verbs are 3–4 letters (XPWD, XCUP included); EPSV/EPRT/MLSD as well.
  if (!/^[A-Za-z]{3,4}$/.test(verb)) {
    return { kind: 'invalid', reason: verb === '' ? 'empty command line' : 'not a command verb' };
  }
  if (line.includes('\0')) return { kind: 'invalid', reason: 'NUL in the command line' };
  return { kind: 'command', verb: verb.toUpperCase(), arg: space === -1 ? '' : line.slice(space + 1) };
}

/** Incremental command-line reader; feed it every chunk read from the control connection. */
export class CommandLineReader {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private readonly parts: Buffer[] = [];
  private partBytes = 0;
  private discarding = false;
  private telnet: 'data' | 'iac' | 'option' = 'data';

  constructor(private readonly maxLineBytes = DEFAULT_MAX_COMMAND_LINE_BYTES) {}

  /** Bytes of an unfinished line held back (after AUTH TLS they would be TLS bytes: none may be there). */
  get buffered(): number {
    return this.partBytes;
  }

  /** The commands (and rejected lines) that `chunk` completed, in order. */
  push(chunk: Uint8Array): CommandInput[] {
    const out: CommandInput[] = [];
    const clean = this.stripTelnet(chunk);
    let start = 0;
    while (start < clean.length) {
      const lf = clean.indexOf(LF, start);
      const end = lf === -1 ? clean.length : lf;
      if (!this.discarding) {
        if (this.partBytes + (end - start) > this.maxLineBytes + 1) {
          // +1: the CR of CRLF may still be in this part.
          this.discarding = true;
          this.parts.length = 0;
          this.partBytes = 0;
          out.push({ kind: 'invalid', reason: `command line longer than ${this.maxLineBytes} bytes` });
        } else {
          this.parts.push(Buffer.from(clean.subarray(start, end)));
          this.partBytes += end - start;
        }
      }
      if (lf === -1) break;
      if (this.discarding) {
        this.discarding = false;
      } else {
        let line = this.parts.length === 1 ? this.parts[0] : Buffer.concat(this.parts);
        this.parts.length = 0;
        this.partBytes = 0;
        if (line.length > 0 && line[line.length - 1] === CR) line = line.subarray(0, -1);
        if (line.length > this.maxLineBytes) {
          out.push({ kind: 'invalid', reason: `command line longer than ${this.maxLineBytes} bytes` });
        } else {
          out.push(parseCommandLine(this.decoder.decode(line)));
        }
      }
      start = lf + 1;
    }
    return out;
  }

  /**
   * Drops Telnet commands: IAC IAC is a literal 0xFF, IAC WILL/WONT/DO/DONT x takes three bytes, IAC and another
   * command byte (0xF0–0xFA) two, and an IAC before an ordinary byte only itself (its DM went out of band).
   * A sequence may be split across chunks.
   */
  private stripTelnet(chunk: Uint8Array): Uint8Array {
    if (this.telnet === 'data' && chunk.indexOf(IAC) === -1) return chunk;
    const out = Buffer.allocUnsafe(chunk.length);
    let n = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (this.telnet === 'option') {
        this.telnet = 'data';
      } else if (this.telnet === 'iac') {
        if (c === IAC) {
          out[n++] = IAC;
          this.telnet = 'data';
        } else if (c >= 0xfb && c <= 0xfe) {
          this.telnet = 'option';
        } else {
          this.telnet = 'data';
          if (c < 0xf0) out[n++] = c;
        }
      } else if (c === IAC) {
        this.telnet = 'iac';
      } else {
        out[n++] = c;
      }
    }
    return out.subarray(0, n);
  }
}
