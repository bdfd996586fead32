// One end of a bench/ring.ts measurement: a producer or consumer over a frame ring (waiting or spinning), or over
// a MessagePort (transferred ArrayBuffer or structured clone). Reports once by postMessage to the parent.
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { DoorbellTable, FrameRing, installDoorbellTable } from '../src/shared-ring/index.js';

export type RingBenchMode = 'ring-wait' | 'ring-spin' | 'post-transfer' | 'post-clone';

export interface RingBenchData {
  mode: RingBenchMode;
  side: 'producer' | 'consumer';
  frameBytes: number;
  durationMs: number;
  warmupMs: number;
  batch: number;
  doorbells: SharedArrayBuffer;
  ring: SharedArrayBuffer;
  /** Word 0: messages the consumer has taken (postMessage flow control). */
  credits: SharedArrayBuffer;
  port?: MessagePort;
}

export interface RingBenchReport {
  /** Records counted after the warm-up, and the seconds they took. */
  records: number;
  seconds: number;
  sleeps: number;
}

const data = workerData as RingBenchData;
const table = DoorbellTable.attach(data.doorbells);
installDoorbellTable(table);
const doorbell = table.allocate();
let sleeps = 0;
const SPIN_BEFORE_SLEEP = 256; // ≈ 10–50 µs of re-checks, as the stage hosts do

/** Bounded spin, then the doorbell sleep protocol; returns when `ready()` or after a wake-up. */
function idle(ready: () => boolean, spinOnly: boolean): void {
  for (let i = 0; i < SPIN_BEFORE_SLEEP || spinOnly; i++) if (ready()) return;
  const seq = table.prepareSleep(doorbell);
  if (!ready()) {
    table.wait(doorbell, seq, 100);
    sleeps++;
  }
  table.finishSleep(doorbell);
}

/** Counts records after the warm-up: the consumer calls tick() per record and finish() at the end. */
class Meter {
  private start = -1;
  private markTime = -1;
  private markCount = 0;
  private count = 0;
  tick(): void {
    if ((++this.count & 255) !== 0) return;
    const now = performance.now();
    if (this.start < 0) this.start = now;
    else if (this.markTime < 0 && now - this.start >= data.warmupMs) {
      this.markTime = now;
      this.markCount = this.count;
    }
  }
  finish(): RingBenchReport {
    const now = performance.now();
    return { records: this.count - this.markCount, seconds: (now - (this.markTime < 0 ? this.start : this.markTime)) / 1000, sleeps };
  }
}

function ringProducer(ring: FrameRing, spin: boolean): void {
  ring.setProducerDoorbell(doorbell);
  const frame = new Uint8Array(data.frameBytes + 2).subarray(2); // 2 mod 8, like a frame in a ring
  for (let i = 0; i < frame.length; i++) frame[i] = i;
  const deadline = performance.now() + data.durationMs;
  const room = 2 * (data.frameBytes + 32);
  let n = 0;
  for (;;) {
    if (!ring.push(frame)) {
      ring.publish();
      idle(() => ring.writableBytes() >= room, spin);
      continue;
    }
    if (++n % data.batch === 0) {
      ring.publish();
      if ((n & 1023) === 0 && performance.now() >= deadline) break;
    }
  }
  ring.close();
}

function ringConsumer(ring: FrameRing, spin: boolean): RingBenchReport {
  ring.setConsumerDoorbell(doorbell);
  const meter = new Meter();
  let sum = 0;
  for (;;) {
    let taken = 0;
    for (let at = ring.peek(); at >= 0; at = ring.peek()) {
      sum += ring.bytes[at + (ring.frameLength >> 1)]; // touch the frame, as a real stage would
      ring.next();
      meter.tick();
      if (++taken === data.batch) {
        ring.release();
        taken = 0;
      }
    }
    ring.release();
    if (ring.closed && ring.peek() < 0) break;
    idle(() => ring.readableBytes() > 0 || ring.closed, spin);
  }
  if (sum < 0) throw new Error('unreachable');
  return meter.finish();
}

const IN_FLIGHT = 1024;

function postProducer(port: MessagePort, transfer: boolean): void {
  const credits = new Int32Array(data.credits);
  const template = new Uint8Array(data.frameBytes);
  for (let i = 0; i < template.length; i++) template[i] = i;
  const deadline = performance.now() + data.durationMs;
  let sent = 0;
  for (;;) {
    const taken = Atomics.load(credits, 0);
    if (sent - taken >= IN_FLIGHT) {
      Atomics.wait(credits, 0, taken, 100);
      continue;
    }
    if (transfer) {
      const frame = new Uint8Array(data.frameBytes);
      frame.set(template);
      port.postMessage(frame.buffer, [frame.buffer]);
    } else {
      port.postMessage(template);
    }
    if ((++sent & 1023) === 0 && performance.now() >= deadline) break;
  }
  port.postMessage(null);
}

function postConsumer(port: MessagePort): Promise<RingBenchReport> {
  const credits = new Int32Array(data.credits);
  const meter = new Meter();
  let sum = 0;
  return new Promise((resolve) => {
    port.on('message', (message: ArrayBuffer | Uint8Array | null) => {
      if (message === null) {
        port.close();
        resolve(meter.finish());
        return;
      }
      const bytes = message instanceof Uint8Array ? message : new Uint8Array(message);
      sum += bytes[bytes.length >> 1] ?? 0;
      meter.tick();
      Atomics.add(credits, 0, 1);
      Atomics.notify(credits, 0);
    });
  });
}

async function run(): Promise<RingBenchReport | null> {
  const spin = data.mode === 'ring-spin';
  switch (data.mode) {
    case 'ring-wait':
    case 'ring-spin': {
      const ring = FrameRing.attach(data.ring);
      if (data.side === 'consumer') return ringConsumer(ring, spin);
      ringProducer(ring, spin);
      return null;
    }
    case 'post-transfer':
    case 'post-clone':
      if (data.side === 'consumer') return postConsumer(data.port!);
      postProducer(data.port!, data.mode === 'post-transfer');
      return null;
  }
}

parentPort!.postMessage({ report: await run() });
table.free(doorbell);
