import { NetTransport, type FtpTransport } from '../ftp/index.js';
import type { Stack } from './stack.js';

/** The FTP client's (and server's) transport over a ringstack stack: same code as node:net's, our sockets. */
export function ringstackTransport(stack: Stack): FtpTransport {
  return new NetTransport('ringstack', {
    connect: (options) => stack.connect(options),
    createServer: () => stack.createServer(),
  });
}
