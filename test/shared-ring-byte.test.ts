import { describe, expect, it } from 'vitest';
import { ByteRing, CONTROL_BLOCK_BYTES, FrameRing } from '../src/shared-ring/index.js';

function pattern(len: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(len);
  for (let i = 0; i < len; i++) bytes[i] = (i * 13 + seed) & 0xff;
  return bytes;
}

function expectBytes(actual: Uint8Array, expected: Uint8Array): void {
  if (!Buffer.from(actual.buffer, actual.byteOffset, actual.length).equals(expected)) expect(actual).toEqual(expected);
}

/** The bytes the spans point at, concatenated. */
function gather(ring: ByteRing, count: number, spans: Int32Array): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let s = 0; s < count; s++) parts.push(ring.bytes.slice(spans[2 * s], spans[2 * s] + spans[2 * s + 1]));
  return Buffer.concat(parts);
}

describe('ByteRing', () => {
  it('attach checks the kind and the buffer', () => {
    const ring = ByteRing.create(4096);
    expect(ByteRing.attach(ring.buffer).capacity).toBe(4096);
    expect(() => ByteRing.attach(FrameRing.create(4096).buffer)).toThrow(/frame ring, not a byte ring/);
    expect(() => ByteRing.create(1000)).toThrow(/power of two/);
    expect(() => ByteRing.attach(new ArrayBuffer(CONTROL_BLOCK_BYTES + 4096))).toThrow(/not a ring buffer/);
  });

  it('writes and reads across the end of the data region, and reports full and empty', () => {
    const producer = ByteRing.create(4096, { initialPosition: 4000 });
    const consumer = ByteRing.attach(producer.buffer);
    const out = new Uint8Array(5000);
    expect(consumer.read(out, 0, 10)).toBe(0); // empty
    expect(producer.write(pattern(5000, 1), 0, 5000)).toBe(4096); // full after 4096
    expect(producer.writableBytes()).toBe(0);
    expect(producer.write(pattern(10, 1), 0, 10)).toBe(0);
    expect(consumer.readableBytes()).toBe(4096);
    expect(consumer.read(out, 3, 1000)).toBe(1000);
    expectBytes(out.subarray(3, 1003), pattern(5000, 1).subarray(0, 1000));
    expect(producer.writableBytes()).toBe(1000);
    expect(consumer.read(out, 0, 5000)).toBe(3096);
    expectBytes(out.subarray(0, 3096), pattern(5000, 1).subarray(1000, 4096));
    expect(consumer.readableBytes()).toBe(0);
  });

  it('places out-of-order bytes with writeAt and publishes them with advanceTail', () => {
    const producer = ByteRing.create(4096, { initialPosition: 4096 - 100 });
    const consumer = ByteRing.attach(producer.buffer);
    const data = pattern(3000, 7);
    // A segment beyond a hole arrives first, then the hole is filled; nothing is readable until published.
    expect(producer.writeAt(1000, data, 1000, 2000)).toBe(true);
    expect(consumer.readableBytes()).toBe(0);
    expect(producer.writeAt(0, data, 0, 1000)).toBe(true);
    expect(producer.writeAt(3000, data, 0, 1097)).toBe(false); // 4097 > 4096
    producer.advanceTail(3000);
    const out = new Uint8Array(3000);
    expect(consumer.read(out, 0, 3000)).toBe(3000);
    expectBytes(out, data);
    expect(() => producer.advanceTail(4097)).toThrow(/exceed/);
    expect(() => producer.writeAt(-1, data, 0, 1)).toThrow(RangeError);
  });

  it('offers its direct reader (same thread, any view of the same memory) only while empty', () => {
    const producer = ByteRing.create(4096);
    const consumer = ByteRing.attach(producer.buffer);
    const other = ByteRing.create(4096);
    const taken: number[] = [];
    const reader = { take: (_src: Uint8Array, _offset: number, len: number): number => (taken.push(len), len) };
    expect(producer.directReader()).toBeUndefined();
    consumer.setDirectReader(reader);
    expect(producer.directReader()).toBe(reader);
    expect(other.directReader()).toBeUndefined(); // another ring's memory
    expect(producer.write(pattern(10, 3), 0, 10)).toBe(10);
    expect(producer.directReader()).toBeUndefined(); // bytes in the ring would be overtaken
    expect(producer.writeAt(0, pattern(10, 3), 0, 5)).toBe(true);
    const out = new Uint8Array(10);
    expect(consumer.read(out, 0, 10)).toBe(10);
    expect(producer.directReader()).toBe(reader);
    consumer.setDirectReader(null);
    expect(producer.directReader()).toBeUndefined();
    expect(taken).toEqual([]); // the ring only offers the reader; taking is the writer's call
  });

  it('peekAt copies bytes behind the head without releasing them', () => {
    const producer = ByteRing.create(4096, { initialPosition: 4000 });
    const consumer = ByteRing.attach(producer.buffer);
    const data = pattern(500, 3);
    producer.write(data, 0, 500);
    const out = new Uint8Array(500);
    expect(consumer.peekAt(50, out, 0, 200)).toBe(200); // crosses the end at 96
    expectBytes(out.subarray(0, 200), data.subarray(50, 250));
    expect(consumer.peekAt(400, out, 0, 500)).toBe(100); // clipped to what is published
    expect(consumer.peekAt(500, out, 0, 1)).toBe(0);
    expect(producer.writableBytes()).toBe(4096 - 500); // nothing released
    consumer.advanceHead(100);
    expect(consumer.peekAt(0, out, 0, 10)).toBe(10);
    expectBytes(out.subarray(0, 10), data.subarray(100, 110));
    expect(() => consumer.advanceHead(401)).toThrow(/exceed/);
  });

  it('spans cover the published bytes in one or two pieces and refuse unpublished ones', () => {
    const producer = ByteRing.create(4096, { initialPosition: 4000 });
    const consumer = ByteRing.attach(producer.buffer);
    const data = pattern(300, 9);
    producer.write(data, 0, 300);
    const spans = new Int32Array(4);
    expect(consumer.spans(0, 50, spans)).toBe(1);
    expect([spans[0], spans[1]]).toEqual([CONTROL_BLOCK_BYTES + 4000, 50]);
    expect(consumer.spans(10, 200, spans)).toBe(2);
    expect([spans[0], spans[1], spans[2], spans[3]]).toEqual([CONTROL_BLOCK_BYTES + 4010, 86, CONTROL_BLOCK_BYTES, 114]);
    expectBytes(gather(consumer, 2, spans), data.subarray(10, 210));
    expect(consumer.spans(300, 0, spans)).toBe(0);
    expect(() => consumer.spans(100, 201, spans)).toThrow(/not within the 300 readable/);
    expect(() => consumer.spans(0, 1, new Int32Array(2))).toThrow(/at least 4/);
  });

  it('writableSpans let the producer fill free space in place', () => {
    const producer = ByteRing.create(4096, { initialPosition: 4090 });
    const consumer = ByteRing.attach(producer.buffer);
    const spans = new Int32Array(4);
    const data = pattern(20, 4);
    const n = producer.writableSpans(2, 20, spans);
    expect(n).toBe(2);
    expect([spans[1], spans[3]]).toEqual([4, 16]);
    producer.bytes.set(data.subarray(0, 4), spans[0]);
    producer.bytes.set(data.subarray(4), spans[2]);
    producer.writeAt(0, pattern(2, 0), 0, 2);
    producer.advanceTail(22);
    const out = new Uint8Array(22);
    expect(consumer.read(out, 0, 22)).toBe(22);
    expectBytes(out.subarray(2), data);
    expect(() => producer.writableSpans(0, 4097, spans)).toThrow(RangeError);
  });

  it('runs its u32 counters across 2^32 with every read and write size', () => {
    const producer = ByteRing.create(4096, { initialPosition: 2 ** 32 - 10_000 });
    const consumer = ByteRing.attach(producer.buffer);
    const source = pattern(1 << 16, 5);
    const sink = new Uint8Array(1 << 16);
    let written = 0;
    let read = 0;
    for (let step = 1; read < 40_000; step++) {
      written += producer.write(source, written & 0x7fff, Math.min(step % 3001, 0x8000 - (written & 0x7fff)));
      const got = consumer.read(sink, 0, (step * 7) % 2500);
      for (let i = 0; i < got; i++) {
        if (sink[i] !== source[(read + i) & 0x7fff]) expect.fail(`byte ${read + i} differs`);
      }
      read += got;
    }
    expect(consumer.readableBytes()).toBe(written - read);
    expect(new Uint32Array(producer.buffer, 0, 64)[16]).toBe((2 ** 32 - 10_000 + written) % 2 ** 32);
  });

  it('rejects ranges outside the caller’s arrays', () => {
    const ring = ByteRing.create(4096);
    expect(() => ring.write(new Uint8Array(4), 2, 3)).toThrow(RangeError);
    expect(() => ring.read(new Uint8Array(4), 0, 5)).toThrow(RangeError);
    expect(() => ring.peekAt(0, new Uint8Array(4), -1, 1)).toThrow(RangeError);
    expect(ring.readableBytes()).toBe(0);
  });
});
