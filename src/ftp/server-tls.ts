// The server's half of FTPS (RFC 4217): a TLS server handshake over any Duplex (a kernel socket or a ringstack
// socket), with one SecureContext per server so data connections can resume the control connection's session
// (TLS 1.3 tickets and TLS 1.2 sessions are both issued under that context's keys).

import { TLSSocket, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import { FtpError } from './errors.js';
import { waitFor } from './wait.js';

/** Server handshake over `socket`; resolves once it completed. */
export function acceptTls(
  socket: Duplex,
  secureContext: SecureContext,
  options: { timeoutMs: number; signal?: AbortSignal | undefined },
): Promise<TLSSocket> {
  return waitFor<TLSSocket>(
    (resolve, reject) => {
      const secure = new TLSSocket(socket, { isServer: true, secureContext });
      let established = false;
      const onSecure = (): void => {
        established = true;
        resolve(secure);
      };
      const onError = (error: Error): void =>
        reject(new FtpError('connection', `TLS handshake failed: ${error.message}`, { cause: error }));
      const onClose = (): void => reject(new FtpError('connection', 'connection closed during the TLS handshake'));
      secure.once('secure', onSecure);
      secure.once('error', onError);
      secure.once('close', onClose);
      return () => {
        secure.off('secure', onSecure);
        secure.off('error', onError);
        secure.off('close', onClose);
        if (!established) {
          secure.on('error', () => {}); // late errors of an abandoned handshake must not crash the process
          secure.destroy();
        }
      };
    },
    { timeoutMs: options.timeoutMs, what: 'TLS handshake', signal: options.signal },
  );
}
