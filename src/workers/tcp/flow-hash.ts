// Steering connections to protocol shards. RX computes the flow hash of each arriving segment and hands it to
// shard `hash % shardCount`; a connection therefore lives where its 4-tuple hashes, and an outgoing connection must
// pick a local port whose tuple hashes to the shard that opens it (mTCP and gVisor's dispatcher do the same).
// Every shard and the RX stage must share the same key.
import { hashFourTuple, type HashKey } from './hsiphash.js';

/** The flow hash of a connection as seen from our side (local = the segment's destination on input). */
export function flowHash(key: HashKey, localAddr: number, localPort: number, remoteAddr: number, remotePort: number): number {
  return hashFourTuple(key, localAddr, localPort, remoteAddr, remotePort, 0x464c4f57);
}

export function shardOfFlow(hash: number, shardCount: number): number {
  return shardCount <= 1 ? 0 : (hash >>> 0) % shardCount;
}

/**
 * Local ports for outgoing connections: Linux's default range (ip_local_port_range), 28 232 ports. RFC 6056 §3.2
 * asks for more than RFC 6335's 16 384 dynamic ports: each port of a destination stays in TIME-WAIT until it may be
 * reused (`timeWaitReuseMs`, 1 s), so the range / 1 s caps the connections per second to one destination — 16 384/s
 * with the dynamic range, under twice what Node's kernel sockets sustain on the loopback here (bench/tcp.ts).
 */
export const EPHEMERAL_PORT_FIRST = 32768;
export const EPHEMERAL_PORT_LAST = 60999;

/**
 * A local port for an outgoing connection to (remoteAddr, remotePort) that hashes to `shard` and that `inUse` says
 * is free, searching from `start` (callers pass a random or rotating start, RFC 6056 §3.3.4). Returns -1 when the
 * whole range is taken for this destination.
 */
export function pickLocalPort(
  key: HashKey,
  localAddr: number,
  remoteAddr: number,
  remotePort: number,
  shard: number,
  shardCount: number,
  start: number,
  inUse: (port: number) => boolean,
  first = EPHEMERAL_PORT_FIRST,
  last = EPHEMERAL_PORT_LAST,
): number {
  const span = last - first + 1;
  for (let i = 0; i < span; i++) {
    const port = first + ((start + i) % span + span) % span;
    if (shardCount > 1 && shardOfFlow(flowHash(key, localAddr, port, remoteAddr, remotePort), shardCount) !== shard) continue;
    if (!inUse(port)) return port;
  }
  return -1;
}
