// SPSC rings over SharedArrayBuffers and the doorbells their consumers and producers sleep on.
export { DoorbellTable, doorbellTable, installDoorbellTable, installEventFdSignaller, type WaitResult } from './doorbell.js';
export {
  FrameRing,
  FRAME_CSUM_PARTIAL,
  FRAME_CSUM_VALID,
  FRAME_GSO_TCPV4,
  RECORD_HEADER_BYTES,
  WRAP_MARKER,
  forEachRecord,
  frameRecordBytes,
} from './frame-ring.js';
export { ByteRing, type ByteRingDirectReader } from './byte-ring.js';
export { CONTROL_BLOCK_BYTES, MAX_RING_CAPACITY, MIN_RING_CAPACITY, type RingCreateOptions } from './control-block.js';
export { copyBytes, installBulkCopy, type BulkCopy } from './copy.js';
