// Every failure the FTP client reports is an FtpError with a `kind`, so callers (and the CLI's exit codes) can
// tell a server refusal from a protocol violation, a timeout or a failed verification without parsing messages.

export type FtpErrorKind =
  | 'protocol' // the server broke RFC 959 (malformed reply, overlong line, impossible listing)
  | 'reply' // the server answered with a 4xx/5xx reply
  | 'timeout' // a wait ran out
  | 'connection' // a connection failed or closed early
  | 'verify' // size or hash mismatch after a transfer
  | 'usage' // the caller's input (argument with CR/LF, bad URL, unsafe local name)
  | 'aborted'; // the caller's AbortSignal fired

export class FtpError extends Error {
  readonly kind: FtpErrorKind;
  /** The reply code when `kind` is 'reply' (and for 421 connection shutdowns). */
  readonly code: number | undefined;

  constructor(kind: FtpErrorKind, message: string, options: { code?: number; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FtpError';
    this.kind = kind;
    this.code = options.code;
  }
}

export function isFtpError(value: unknown, kind?: FtpErrorKind): value is FtpError {
  return value instanceof FtpError && (kind === undefined || value.kind === kind);
}

/** The error to throw when `signal` fired: its reason if that is already an FtpError, else an 'aborted' one. */
export function abortError(signal: AbortSignal): FtpError {
  const reason: unknown = signal.reason;
  if (reason instanceof FtpError) return reason;
  return new FtpError('aborted', 'transfer aborted', { cause: reason });
}
