import { closeSync, openSync, writeSync } from 'node:fs';
import { forEachRecord, type FrameRing } from '../shared-ring/index.js';
import type { LinkDevice } from './device.js';
import { WrappedDevice } from './device-wrapper.js';

const PCAP_GLOBAL_HEADER_BYTES = 24;
const PCAP_RECORD_HEADER_BYTES = 16;
const LINKTYPE_ETHERNET = 1;
const SNAPLEN = 262144;
const BUFFER_BYTES = 1 << 20;
const FLUSH_INTERVAL_MS = 100;

/** Creates (truncates) a pcap file with its global header. Done once, by whoever owns the link spec. */
export function createPcapFile(path: string): void {
  const header = new Uint8Array(PCAP_GLOBAL_HEADER_BYTES);
  const view = new DataView(header.buffer);
  view.setUint32(0, 0xa1b2c3d4, true); // microsecond timestamps, little-endian
  view.setUint16(4, 2, true);
  view.setUint16(6, 4, true);
  view.setUint32(16, SNAPLEN, true);
  view.setUint32(20, LINKTYPE_ETHERNET, true);
  const fd = openSync(path, 'w');
  try {
    writeSync(fd, header);
  } finally {
    closeSync(fd);
  }
}

/**
 * Wraps any device and appends every frame it receives or transmits to a pcap file that tshark reads. Several
 * instances (the rx and tx halves of one link in different threads) may append to one file: each write(2) carries
 * whole records and the file is opened O_APPEND, so records never interleave mid-way.
 */
export class PcapWriter extends WrappedDevice {
  private readonly fd: number;
  private readonly buffer = new Uint8Array(BUFFER_BYTES);
  private readonly view = new DataView(this.buffer.buffer);
  private used = 0;
  private lastFlush = 0;
  private now = 0;
  private source: FrameRing | null = null;
  private readonly appendRecord = (frameOffset: number, length: number): void => {
    this.append(this.source!.bytes, frameOffset, length);
  };

  /** `epochMs` is the wall-clock time at which the stack's clock read 0, so records carry real timestamps. */
  constructor(inner: LinkDevice, path: string, private readonly epochMs: number) {
    super(inner);
    this.fd = openSync(path, 'a');
  }

  override receive(into: FrameRing, maxFrames: number, now: number, maxBytes?: number): number {
    const start = into.producerPosition();
    const n = this.inner.receive(into, maxFrames, now, maxBytes);
    // The frames sit unpublished between the old and new producer positions: record them in place.
    if (n > 0) this.capture(into, start, into.producerPosition(), now);
    return n;
  }

  override transmit(from: FrameRing, maxFrames: number, now: number): number {
    const start = from.consumerPosition();
    const n = this.inner.transmit(from, maxFrames, now);
    // Consumed but not yet released: the bytes are still ours to read.
    if (n > 0) this.capture(from, start, from.consumerPosition(), now);
    return n;
  }

  private capture(ring: FrameRing, from: number, to: number, now: number): void {
    this.now = now;
    this.source = ring;
    forEachRecord(ring, from, to, this.appendRecord);
    this.source = null;
    if (now - this.lastFlush >= FLUSH_INTERVAL_MS) this.flush(now);
  }

  private append(bytes: Uint8Array, offset: number, length: number): void {
    const captured = Math.min(length, SNAPLEN);
    if (this.used + PCAP_RECORD_HEADER_BYTES + captured > BUFFER_BYTES) this.flush(this.now);
    const micros = Math.round((this.epochMs + this.now) * 1000);
    const at = this.used;
    this.view.setUint32(at, Math.floor(micros / 1e6), true);
    this.view.setUint32(at + 4, micros % 1e6, true);
    this.view.setUint32(at + 8, captured, true);
    this.view.setUint32(at + 12, length, true);
    if (PCAP_RECORD_HEADER_BYTES + captured > BUFFER_BYTES) {
      // A frame larger than the buffer: header and frame go out as they are.
      writeSync(this.fd, this.buffer, 0, PCAP_RECORD_HEADER_BYTES);
      writeSync(this.fd, bytes, offset, captured);
      return;
    }
    this.buffer.set(bytes.subarray(offset, offset + captured), at + PCAP_RECORD_HEADER_BYTES);
    this.used = at + PCAP_RECORD_HEADER_BYTES + captured;
  }

  private flush(now: number): void {
    if (this.used > 0) writeSync(this.fd, this.buffer, 0, this.used);
    this.used = 0;
    this.lastFlush = now;
  }

  override pollAt(now: number): number {
    // Buffered records reach the file within FLUSH_INTERVAL_MS even when traffic stops.
    const due = this.used > 0 ? this.lastFlush + FLUSH_INTERVAL_MS : Infinity;
    if (due <= now) this.flush(now);
    return Math.min(this.inner.pollAt(now), this.used > 0 ? this.lastFlush + FLUSH_INTERVAL_MS : Infinity);
  }


  override close(): void {
    this.flush(this.now);
    closeSync(this.fd);
    this.inner.close();
  }
}
