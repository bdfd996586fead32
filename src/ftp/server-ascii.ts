// TYPE A (RFC 959 §3.1.1.1): on the wire, lines end in CRLF. Files here end lines in LF, so a download turns each
// bare LF into CRLF and an upload turns each CRLF back into LF. Both work on a stream cut anywhere.

const CR = 0x0d;
const LF = 0x0a;

/** LF → CRLF for a download (an LF already preceded by CR is left alone). */
export class AsciiEncoder {
  private lastWasCr = false;

  encode(chunk: Uint8Array): Buffer {
    let extra = 0;
    for (let i = 0; i < chunk.length; i++) {
      if (chunk[i] === LF && !(i === 0 ? this.lastWasCr : chunk[i - 1] === CR)) extra++;
    }
    if (chunk.length === 0) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(chunk.length + extra);
    let n = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === LF && !(i === 0 ? this.lastWasCr : chunk[i - 1] === CR)) out[n++] = CR;
      out[n++] = c;
    }
    this.lastWasCr = chunk[chunk.length - 1] === CR;
    return out;
  }
}

/** CRLF → LF for an upload; a CR at the end of a chunk waits for the next one. */
export class AsciiDecoder {
  private pendingCr = false;

  decode(chunk: Uint8Array): Buffer {
    if (chunk.length === 0) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(chunk.length + 1);
    let n = 0;
    let i = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (chunk.length > 0 && chunk[0] !== LF) out[n++] = CR;
    }
    for (; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === CR) {
        if (i + 1 === chunk.length) {
          this.pendingCr = true;
          break;
        }
        if (chunk[i + 1] === LF) continue;
      }
      out[n++] = c;
    }
    return out.subarray(0, n);
  }

  /** The bytes held back at the end of the stream (a final lone CR). */
  flush(): Buffer {
    const out = this.pendingCr ? Buffer.from([CR]) : Buffer.alloc(0);
    this.pendingCr = false;
    return out;
  }
}
