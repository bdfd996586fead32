import { NetTransport, type FtpTransport } from '../ftp/index.js';
import type { AppEndpoint } from './app-endpoint.js';

/** The FTP client's (and server's) transport over a ringstack stack (any thread's AppEndpoint): node:net's code, our sockets. */
export function ringstackTransport(stack: AppEndpoint): FtpTransport {
  return new NetTransport('ringstack', {
    connect: (options) => stack.connect(options),
    createServer: () => stack.createServer(),
  });
}
