/** An Error with a Node-style `code` (ECONNREFUSED, EHOSTUNREACH, ...), as node:net and node:dgram raise them. */
export interface ErrnoLikeError extends Error {
  code: string;
  syscall?: string;
  address?: string;
  port?: number;
}

export function errnoError(code: string, syscall: string, message: string, address?: string, port?: number): ErrnoLikeError {
  const err = new Error(`${syscall} ${code}${message ? ` ${message}` : ''}`) as ErrnoLikeError;
  err.code = code;
  err.syscall = syscall;
  if (address !== undefined) err.address = address;
  if (port !== undefined) err.port = port;
  return err;
}
