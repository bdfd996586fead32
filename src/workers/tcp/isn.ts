// RFC 6528 §3 initial sequence numbers: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M
// is a 4-microsecond timer and F a keyed PRF (HalfSipHash here). Different 4-tuples get unrelated sequence spaces,
// and the same 4-tuple gets ISNs that keep increasing with time, so old duplicates of a previous incarnation fall
// outside the new one's window (RFC 9293 §3.4.1).
import { hashFourTuple, type HashKey } from './hsiphash.js';

/** M of RFC 6528: the number of 4 µs ticks in `nowMs`, modulo 2^32. */
export function isnClock(nowMs: number): number {
  return Math.floor(nowMs * 250) >>> 0;
}

export function initialSequenceNumber(
  key: HashKey,
  nowMs: number,
  localAddr: number,
  localPort: number,
  remoteAddr: number,
  remotePort: number,
): number {
  return (isnClock(nowMs) + hashFourTuple(key, localAddr, localPort, remoteAddr, remotePort, 0x49534e)) >>> 0;
}
