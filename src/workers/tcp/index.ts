// The TCP engine's public surface for the protocol stage.
export { TcpEngine, type ConnectOptions, type TcpEngineOptions, type TcpEngineStats } from './engine.js';
export { TcpConnection } from './connection.js';
export { TcpListener, type ListenOptions } from './accept.js';
export {
  DEFAULT_TCP_CONFIG, TcpSegmentOut, TcpState, tcpStateName, type TcpBufferProvider, type TcpConfig, type TcpErrorCode,
  type TcpEventSink, type TcpInfo, type TcpOutput, type TcpStateName,
} from './types.js';
export type { CongestionAlgorithm } from './congestion.js';
export { flowHash, pickLocalPort, shardOfFlow } from './flow-hash.js';
export { hashKeyFromBytes, type HashKey } from './hsiphash.js';
