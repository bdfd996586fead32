// Replies the server sends (RFC 959 §4.2): "xyz text" on one line, or "xyz-first", middle lines, "xyz last".
// Text that came from a client or a file system must not break the framing, so control characters are replaced.

/** A command failed: the session answers with this reply and carries on. */
export class FtpReplyError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = 'FtpReplyError';
  }
}

/** Replaces C0 controls and DEL, so no text can end a reply line early or smuggle a second reply. */
export function replyText(text: string): string {
  return text.replace(/[\x00-\x1f\x7f]/g, '?');
}

/**
 * The bytes of a reply. One line: `code text`. Several: `code-first`, middle lines indented by one space (so none
 * can be mistaken for the end: §4.2 says a middle line must not start with the code and a space), `code last`.
 */
export function formatReply(code: number, text: string | readonly string[]): Buffer {
  if (!Number.isInteger(code) || code < 100 || code > 599) throw new RangeError(`not an FTP reply code: ${code}`);
  const lines = (typeof text === 'string' ? text.split('\n') : [...text]).map(replyText);
  if (lines.length <= 1) return Buffer.from(`${code} ${lines[0] ?? ''}\r\n`, 'utf8');
  const first = `${code}-${lines[0]}\r\n`;
  const middle = lines.slice(1, -1).map((line) => ` ${line}\r\n`).join('');
  return Buffer.from(`${first}${middle}${code} ${lines[lines.length - 1]}\r\n`, 'utf8');
}

/** A path inside a 257 reply: in double quotes, embedded quotes doubled (RFC 959 appendix II). */
export function quotePath(path: string): string {
  return `"${path.replace(/"/g, '""')}"`;
}
