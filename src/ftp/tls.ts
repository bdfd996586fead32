// TLS over any Duplex (RFC 4217 FTPS). node:tls accepts a plain stream.Duplex as `socket`, so the same code
// secures a kernel socket and a ringstack socket.

import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { FtpError } from './errors.js';
import { waitFor } from './wait.js';

/** Client handshake over `socket`; resolves once the peer is verified (unless rejectUnauthorized is false). */
export function startTls(
  socket: Duplex,
  options: ConnectionOptions & { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<TLSSocket> {
  const { timeoutMs, signal, ...tlsOptions } = options;
  return waitFor<TLSSocket>(
    (resolve, reject) => {
      const secure = tlsConnect({ ...tlsOptions, socket });
      let established = false;
      const onError = (error: Error): void => {
        reject(new FtpError('connection', `TLS handshake failed: ${error.message}`, { cause: error }));
      };
      const onSecure = (): void => {
        established = true;
        resolve(secure);
      };
      secure.once('secureConnect', onSecure);
      secure.once('error', onError);
      return () => {
        secure.off('secureConnect', onSecure);
        secure.off('error', onError);
        // Failed, timed out or aborted before the handshake finished: nobody else will own this socket.
        if (!established) secure.destroy();
      };
    },
    { timeoutMs, what: 'TLS handshake', signal },
  );
}

/**
 * Keeps the newest TLS session of a control connection, for data connections to resume (vsftpd's
 * require_ssl_reuse). With TLS 1.3 the tickets arrive after the handshake, as 'session' events.
 */
export class TlsSessionCache {
  private session: Buffer | undefined;
  private readonly waiters = new Set<() => void>();

  watch(socket: TLSSocket): void {
    socket.on('session', (session: Buffer) => {
      this.session = session;
      for (const wake of this.waiters) wake();
      this.waiters.clear();
    });
    // TLS 1.2 sessions are complete at the handshake and also come through 'session'; getSession() covers
    // sockets whose event already fired.
    if (socket.getProtocol() !== 'TLSv1.3') this.session ??= socket.getSession();
  }

  /** The newest session; waits up to `timeoutMs` for the first TLS 1.3 ticket if none has arrived yet. */
  async get(timeoutMs: number, signal?: AbortSignal): Promise<Buffer | undefined> {
    if (this.session !== undefined) return this.session;
    try {
      await waitFor<void>(
        (resolve) => {
          this.waiters.add(resolve);
          return () => this.waiters.delete(resolve);
        },
        { timeoutMs, what: 'TLS session ticket', signal },
      );
    } catch (error) {
      if (!(error instanceof FtpError && error.kind === 'timeout')) throw error;
    }
    return this.session;
  }
}
