import { describe, expect, it } from 'vitest';
import {
  ByteRing,
  CONTROL_BLOCK_BYTES,
  FRAME_CSUM_PARTIAL,
  FRAME_GSO_TCPV4,
  FrameRing,
  RECORD_HEADER_BYTES,
  WRAP_MARKER,
  forEachRecord,
  frameRecordBytes,
} from '../src/shared-ring/index.js';

/** A frame whose every byte depends on its length and a seed, so a misplaced or stale byte shows. */
function frame(len: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = (i * 31 + seed * 7 + len) & 0xff;
  return bytes;
}

function popFrame(ring: FrameRing): { bytes: Uint8Array; port: number; flags: number; aux: number } | null {
  const at = ring.peek();
  if (at < 0) return null;
  const result = { bytes: ring.bytes.slice(at, at + ring.frameLength), port: ring.port, flags: ring.flags, aux: ring.aux };
  ring.next();
  return result;
}

/** Byte-array equality that stays fast for megabytes (toEqual compares element by element); diffs on failure. */
function expectBytes(actual: Uint8Array | undefined, expected: Uint8Array): void {
  const same = actual !== undefined && Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected);
  if (!same) expect(actual).toEqual(expected);
}

const wordAt = (ring: FrameRing, word: number): number => new Int32Array(ring.buffer, 0, 64)[word] >>> 0;

describe('FrameRing create and attach', () => {
  it('rejects capacities that are not a power of two of at least 4096', () => {
    expect(() => FrameRing.create(4095)).toThrow(/power of two/);
    expect(() => FrameRing.create(2048)).toThrow(/power of two/);
    expect(() => FrameRing.create(6000)).toThrow(/power of two/);
    expect(() => FrameRing.create(4096, { initialPosition: 4 })).toThrow(/multiple of 8/);
  });

  it('lays out the control block as documented', () => {
    const ring = FrameRing.create(8192, { initialPosition: 0xfffffff8 });
    expect(ring.buffer).toBeInstanceOf(SharedArrayBuffer);
    expect(ring.buffer.byteLength).toBe(CONTROL_BLOCK_BYTES + 8192);
    expect([wordAt(ring, 0), wordAt(ring, 1), wordAt(ring, 2)]).toEqual([0x52535231, 1, 8192]);
    expect([wordAt(ring, 16), wordAt(ring, 32)]).toEqual([0xfffffff8, 0xfffffff8]);
    expect(ring.maxFrameBytes).toBe(4096 - 18);
    expect(FrameRing.create(4096, { shared: false }).buffer).toBeInstanceOf(ArrayBuffer);
  });

  it('attach refuses what is not an intact frame ring, with a message that says why', () => {
    const good = FrameRing.create(4096);
    expect(() => FrameRing.attach(new SharedArrayBuffer(CONTROL_BLOCK_BYTES + 4096))).toThrow(/not a ring buffer/);
    expect(() => FrameRing.attach(ByteRing.create(4096).buffer)).toThrow(/byte ring, not a frame ring/);
    expect(() => FrameRing.attach(new SharedArrayBuffer(100))).toThrow(/too small/);
    expect(() => FrameRing.attach({} as SharedArrayBuffer)).toThrow(TypeError);

    const truncated = new SharedArrayBuffer(CONTROL_BLOCK_BYTES + 8192);
    new Uint8Array(truncated).set(new Uint8Array(good.buffer));
    expect(() => FrameRing.attach(truncated)).toThrow(/capacity 4096 needs 4352/);

    const badCapacity = FrameRing.create(4096);
    new Int32Array(badCapacity.buffer)[2] = 5000;
    expect(() => FrameRing.attach(badCapacity.buffer)).toThrow(/capacity 5000/);

    const tailTooFar = FrameRing.create(4096);
    new Int32Array(tailTooFar.buffer)[16] = 8192;
    expect(() => FrameRing.attach(tailTooFar.buffer)).toThrow(/more than capacity/);

    const misaligned = FrameRing.create(4096);
    new Int32Array(misaligned.buffer)[16] = 12;
    expect(() => FrameRing.attach(misaligned.buffer)).toThrow(/multiples of 8/);

    expect(FrameRing.attach(good.buffer).capacity).toBe(4096);
  });
});

describe('FrameRing producer and consumer', () => {
  it('carries the frame and every header field, frames starting 2 mod 8', () => {
    const ring = FrameRing.create(4096);
    const at = ring.reserve(100);
    expect(at % 8).toBe(2);
    ring.bytes.set(frame(60, 1), at);
    ring.commit(60, FRAME_CSUM_PARTIAL | FRAME_GSO_TCPV4, 7, 1448, 34, 16, 0xbeef);
    ring.publish();
    const consumer = FrameRing.attach(ring.buffer);
    const got = consumer.peek();
    expect(got).toBe(at);
    expect(consumer.peek()).toBe(at); // peeking again is idempotent
    expect(consumer.frameLength).toBe(60);
    expect(consumer.flags).toBe(FRAME_CSUM_PARTIAL | FRAME_GSO_TCPV4);
    expect(consumer.port).toBe(7);
    expect(consumer.gsoSize).toBe(1448);
    expect(consumer.csumStart).toBe(34);
    expect(consumer.csumOffset).toBe(16);
    expect(consumer.aux).toBe(0xbeef);
    expectBytes(consumer.bytes.slice(got, got + 60), frame(60, 1));
    consumer.next();
    expect(consumer.peek()).toBe(-1);
    expect(() => consumer.flags).toThrow(/no record peeked/);
    expect(() => consumer.next()).toThrow(/no record peeked/);
  });

  it('keeps records invisible until publish and space taken until release', () => {
    const producer = FrameRing.create(4096);
    const consumer = FrameRing.attach(producer.buffer);
    expect(producer.push(frame(10, 0))).toBe(true);
    expect(consumer.peek()).toBe(-1);
    expect(consumer.readableBytes()).toBe(0);
    producer.publish();
    expect(consumer.readableBytes()).toBe(frameRecordBytes(10));
    expectBytes(popFrame(consumer)!.bytes, frame(10, 0));
    expect(producer.writableBytes()).toBe(4096 - frameRecordBytes(10));
    consumer.release();
    expect(producer.writableBytes()).toBe(4096);
  });

  it('reports full with -1 and nothing written, then fits again after the consumer releases', () => {
    const producer = FrameRing.create(4096);
    const consumer = FrameRing.attach(producer.buffer);
    let pushed = 0;
    while (producer.push(frame(500, pushed), 0, 500, 0, pushed)) pushed++;
    expect(pushed).toBe(Math.floor(4096 / frameRecordBytes(500)));
    expect(producer.reserve(500)).toBe(-1);
    producer.publish();
    const first = popFrame(consumer)!;
    expect(first.port).toBe(0);
    expect(producer.push(frame(500, pushed))).toBe(false); // not released yet
    consumer.release();
    expect(producer.push(frame(500, pushed), 0, 500, 0, pushed)).toBe(true);
    producer.publish();
    for (let i = 1; i <= pushed; i++) {
      const got = popFrame(consumer)!;
      expect(got.port).toBe(i);
      expectBytes(got.bytes, frame(500, i));
    }
    expect(popFrame(consumer)).toBeNull();
  });

  it('writes a wrap marker when a record would straddle the end and the consumer skips it', () => {
    // Head and tail at offset 3000 leave 1096 bytes before the end; a 1200-byte frame needs 1224.
    const producer = FrameRing.create(4096, { initialPosition: 3000 });
    const consumer = FrameRing.attach(producer.buffer);
    const at = producer.reserve(1200);
    expect(at).toBe(CONTROL_BLOCK_BYTES + RECORD_HEADER_BYTES);
    expect(new Uint32Array(producer.buffer)[(CONTROL_BLOCK_BYTES + 3000) / 4]).toBe(WRAP_MARKER);
    producer.bytes.set(frame(1200, 5), at);
    producer.commit(1200);
    producer.publish();
    expectBytes(popFrame(consumer)!.bytes, frame(1200, 5));
    expect(consumer.consumerPosition()).toBe(4096 + frameRecordBytes(1200));
    expect(producer.writableBytes()).toBe(4096 - frameRecordBytes(1200) - 1096); // the skip is not free until released
  });

  it('refuses a wrap when the skip plus the record do not fit, leaving the ring unchanged', () => {
    const producer = FrameRing.create(4096);
    const consumer = FrameRing.attach(producer.buffer);
    producer.push(frame(1982, 0)); // 2000 bytes
    producer.push(frame(982, 1)); //  1000 bytes: 1096 left at the end
    producer.publish();
    popFrame(consumer);
    consumer.release(); // 2000 free at the start, 1096 at the end: 3096 in all
    expect(producer.reserve(2000)).toBe(-1); // needs 1096 + 2024
    expect(producer.producerPosition()).toBe(3000);
    expect(producer.reserve(1900)).toBe(CONTROL_BLOCK_BYTES + 18); // 1096 + 1920 fits
    producer.commit(1900);
    producer.publish();
    expectBytes(popFrame(consumer)!.bytes, frame(982, 1));
    expect(popFrame(consumer)!.bytes.length).toBe(1900);
  });

  it('passes records of every size from 0 to maxFrameBytes, at every offset', () => {
    for (const capacity of [4096, 16384]) {
      const producer = FrameRing.create(capacity);
      const consumer = FrameRing.attach(producer.buffer);
      for (let len = 0; len <= producer.maxFrameBytes; len++) {
        if (!producer.push(frame(len, len), 0, len, 0, len & 0xffff)) {
          producer.publish();
          for (let got = popFrame(consumer); got; got = popFrame(consumer)) expectBytes(got.bytes, frame(got.port, got.port));
          consumer.release();
          expect(producer.push(frame(len, len), 0, len, 0, len & 0xffff)).toBe(true);
        }
        if (len % 3 === 0) producer.publish();
        const got = len % 5 === 0 ? popFrame(consumer) : null;
        if (got) expectBytes(got.bytes, frame(got.port, got.port));
        if (len % 7 === 0) consumer.release();
      }
      producer.publish();
      let last = -1;
      for (let got = popFrame(consumer); got; got = popFrame(consumer)) {
        expectBytes(got.bytes, frame(got.port, got.port));
        last = got.port;
      }
      expect(last).toBe(producer.maxFrameBytes);
    }
  });

  it('can always place a maximum frame into a drained ring, wherever head and tail stand', () => {
    for (let start = 0; start < 4096; start += 8) {
      const ring = FrameRing.create(4096, { initialPosition: start });
      expect(ring.push(frame(ring.maxFrameBytes, 3))).toBe(true);
      ring.publish();
      expectBytes(popFrame(ring)!.bytes, frame(ring.maxFrameBytes, 3));
    }
  });

  it('runs its u32 counters across 2^32', () => {
    const start = 2 ** 32 - 4096 * 3 + 40;
    const producer = FrameRing.create(4096, { initialPosition: start });
    const consumer = FrameRing.attach(producer.buffer);
    let sent = 0;
    let received = 0;
    while (received < 200) {
      while (producer.push(frame(sent % 700, sent), 0, sent % 700, 0, sent)) sent++;
      producer.publish();
      for (let got = popFrame(consumer); got; got = popFrame(consumer)) {
        expect(got.port).toBe(received);
        expectBytes(got.bytes, frame(received % 700, received));
        received++;
      }
      consumer.release();
    }
    expect(consumer.consumerPosition()).toBeLessThan(start); // it did wrap
    expect(consumer.consumerPosition()).toBe(wordAt(consumer, 32));
    expect(producer.writableBytes()).toBe(4096);
  });

  it('rejects bad arguments with clear errors and writes nothing', () => {
    const ring = FrameRing.create(4096);
    expect(() => ring.reserve(ring.maxFrameBytes + 1)).toThrow(RangeError);
    expect(() => ring.reserve(-1)).toThrow(RangeError);
    expect(() => ring.commit(1)).toThrow(/nothing reserved/);
    ring.reserve(10);
    expect(() => ring.commit(11)).toThrow(/within the 10 bytes reserved/);
    expect(() => ring.commit(10, 0x10000)).toThrow(/u16/);
    expect(() => ring.push(new Uint8Array(4), 2, 3)).toThrow(RangeError);
    expect(() => ring.push(new Uint8Array(ring.maxFrameBytes + 1))).toThrow(RangeError);
    expect(() => ring.setConsumerDoorbell(-1)).toThrow(RangeError);
    ring.publish();
    expect(ring.readableBytes()).toBe(0);
  });

  it('reports a corrupt record instead of reading past it, and loses nothing', () => {
    const producer = FrameRing.create(4096);
    const consumer = FrameRing.attach(producer.buffer);
    producer.push(frame(40, 1));
    producer.publish();
    const words = new Uint32Array(producer.buffer);
    words[CONTROL_BLOCK_BYTES / 4] = 4000; // longer than what is published
    expect(() => consumer.peek()).toThrow(/corrupt record at position 0/);
    words[CONTROL_BLOCK_BYTES / 4] = 40;
    expectBytes(popFrame(consumer)!.bytes, frame(40, 1));
  });

  it('close publishes what is pending and both sides see it', () => {
    const producer = FrameRing.create(4096);
    const consumer = FrameRing.attach(producer.buffer);
    producer.push(frame(8, 8));
    expect(consumer.closed).toBe(false);
    producer.close();
    expect(consumer.closed).toBe(true);
    expectBytes(popFrame(consumer)!.bytes, frame(8, 8));
    expect(wordAt(consumer, 50)).toBe(1);
  });

  it('works over a plain ArrayBuffer for a ring that stays in one thread', () => {
    const ring = FrameRing.create(4096, { shared: false });
    for (let i = 0; i < 1000; i++) {
      expect(ring.push(frame(i % 300, i), 0, i % 300, 0, i)).toBe(true);
      ring.publish();
      const got = popFrame(ring)!;
      expect(got.port).toBe(i);
      ring.release();
    }
  });
});

describe('FrameRing for native code and observers', () => {
  /** Writes a record the way the C addon does: header fields little-endian at the position's offset. */
  function writeRecordByHand(ring: FrameRing, position: number, payload: Uint8Array): number {
    const offset = position & (ring.capacity - 1);
    const view = new DataView(ring.buffer as SharedArrayBuffer);
    if (offset + frameRecordBytes(payload.length) > ring.capacity) {
      view.setUint32(CONTROL_BLOCK_BYTES + offset, WRAP_MARKER, true);
      return writeRecordByHand(ring, (position + ring.capacity - offset) >>> 0, payload);
    }
    view.setUint32(CONTROL_BLOCK_BYTES + offset, payload.length, true);
    for (let f = 4; f < 18; f += 2) view.setUint16(CONTROL_BLOCK_BYTES + offset + f, 0, true);
    view.setUint16(CONTROL_BLOCK_BYTES + offset + 12, 9, true); // port
    ring.bytes.set(payload, CONTROL_BLOCK_BYTES + offset + RECORD_HEADER_BYTES);
    return (position + frameRecordBytes(payload.length)) >>> 0;
  }

  it('adopts a tail written natively, wrap marker included, and the JS consumer reads it', () => {
    const producer = FrameRing.create(4096, { initialPosition: 2 ** 32 - 1024 });
    const consumer = FrameRing.attach(producer.buffer);
    let position = producer.producerPosition();
    expect(producer.headForProducer()).toBe(position);
    for (let i = 0; i < 3; i++) position = writeRecordByHand(producer, position, frame(400, i));
    producer.producerAdvance(position);
    expect(consumer.peek()).toBe(-1); // not yet published
    producer.publish();
    for (let i = 0; i < 3; i++) {
      const got = popFrame(consumer)!;
      expect(got.port).toBe(9);
      expectBytes(got.bytes, frame(400, i));
    }
    expect(consumer.consumerPosition()).toBe(position);
  });

  it('adopts a head reached natively, and rejects positions out of range or misaligned', () => {
    const producer = FrameRing.create(4096);
    const consumer = FrameRing.attach(producer.buffer);
    producer.push(frame(100, 0));
    producer.push(frame(100, 1));
    producer.publish();
    expect(consumer.tailForConsumer()).toBe(2 * frameRecordBytes(100));
    expect(() => consumer.consumerAdvance(3 * frameRecordBytes(100))).toThrow(RangeError);
    expect(() => consumer.consumerAdvance(4)).toThrow(RangeError);
    consumer.consumerAdvance(frameRecordBytes(100));
    expectBytes(popFrame(consumer)!.bytes, frame(100, 1));
    consumer.release();
    expect(producer.headForProducer()).toBe(2 * frameRecordBytes(100));
    expect(() => producer.producerAdvance(producer.producerPosition() + 4096 + 8)).toThrow(RangeError);
    expect(() => producer.producerAdvance(producer.producerPosition() - 8)).toThrow(RangeError);
  });

  it('forEachRecord walks an unpublished batch across the wrap and checks its end', () => {
    const ring = FrameRing.create(4096, { initialPosition: 4096 - 1000 });
    const from = ring.producerPosition();
    for (let i = 0; i < 4; i++) ring.push(frame(300 + i, i));
    const seen: number[] = [];
    expect(forEachRecord(ring, from, ring.producerPosition(), (at, len) => seen.push(len, ring.bytes[at + 1]))).toBe(4);
    expect(seen).toEqual([300, frame(300, 0)[1], 301, frame(301, 1)[1], 302, frame(302, 2)[1], 303, frame(303, 3)[1]]);
    expect(() => forEachRecord(ring, from, ring.producerPosition() - 8, () => {})).toThrow(/no record sequence/);
  });
});
