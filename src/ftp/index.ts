// The FTP client's public API. src/ftp imports nothing else of ringstack: a transport is passed in
// (NetTransport here; the ringstack one lives in src/main).

export { FtpClient, ANONYMOUS, DEFAULT_TIMEOUTS } from './client.js';
export type {
  DownloadOptions,
  FtpClientOptions,
  FtpCredentials,
  FtpSecurity,
  FtpTimeouts,
  RemoteHash,
  TransferOptions,
  TransferResult,
  UploadOptions,
} from './client.js';
export { FtpError, isFtpError } from './errors.js';
export type { FtpErrorKind } from './errors.js';
export type { FtpFileInfo, FtpFileType } from './file-info.js';
export type { FtpListing, ListingFormat, RejectedLine } from './listing.js';
export { parseListing } from './listing.js';
export type { FtpReply } from './reply.js';
export { NetTransport, type SocketApi, type NetLikeSocket, type NetLikeServer, type UnconnectedSocket } from './net-transport.js';
export { startTls } from './tls.js';
export type { FtpConnectOptions, FtpDirectReceive, FtpListener, FtpListenOptions, FtpPreparedSocket, FtpSocket, FtpTransport } from './transport.js';
export { segmentedDownload } from './segmented.js';
export type { SegmentedDownloadOptions, SegmentedDownloadResult } from './segmented.js';
export { resumeStatePath } from './resume-state.js';
export { parseFtpUrl, redactUrl } from './url.js';
export type { FtpUrl } from './url.js';
export { findNetrcEntry, loadNetrc, parseNetrc } from './netrc.js';
export type { NetrcEntry } from './netrc.js';
export { safeLocalName } from './safe-name.js';
export { FtpServer, DEFAULT_SERVER_LIMITS } from './server.js';
export type { FtpServerAddress, FtpServerCounters, FtpServerLimits, FtpServerOptions, FtpServerUser } from './server.js';
