// ringstack's public API.
export { createStack, Stack, DEFAULT_LAYOUT } from './stack.js';
export type { StackOptions, StackLayout, StackStats, PingOptions, InterfaceInfo, RingOccupancy, AttachOptions } from './stack.js';
export { createMemoryWire } from './memory-wire.js';
export type { MemoryWireOptions, MemoryWireEnd } from './memory-wire.js';
export { UdpSocket } from './udp-socket.js';
export type { RemoteInfo, AddressInfo } from './udp-socket.js';
export { VirtualClock, RealClock } from './clock.js';
export type { StackClock } from './clock.js';
export type { ErrnoLikeError } from './errors.js';
export { registerLinkDriver, parseLinkName } from '../link/index.js';
export type { LinkSpec, LinkDriver, LinkDevice, FaultOptions } from '../link/index.js';
export { TcpSocket } from './tcp-socket.js';
export type { TcpConnectOptions, TcpInfo, SocketOption } from './tcp-socket.js';
export { TcpServer } from './tcp-server.js';
export type { ListenOptions } from './tcp-server.js';
export { ringstackTransport } from './ftp-transport.js';
