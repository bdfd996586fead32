// One half of the packet-link benchmark (bench/link.ts), in its own thread as a stage would be: `send` keeps a
// ring of prepared frames flowing into a transmit-only packet socket; `receive` takes frames from a packet socket
// into a frame ring and consumes them. Both count until the main thread sets the stop word.
import { parentPort, workerData } from 'node:worker_threads';
import type { LinkSpec } from '../src/link/device.js';
import { POLL_DEVICE, requireNative } from '../src/link/native.js';
import { packetDriver } from '../src/link/packet.js';
import { FrameRing } from '../src/shared-ring/index.js';

export interface LinkBenchData {
  role: 'send' | 'receive';
  spec: LinkSpec;
  /** send: the frame to repeat. */
  frame?: Uint8Array;
  /** Int32 word 0: 1 = stop; word 1: set to 1 here once the device is open. */
  control: SharedArrayBuffer;
}

export interface LinkBenchReport {
  frames: number;
  bytes: number;
  counters: Readonly<Record<string, number>>;
}

const { role, spec, frame, control: controlBuffer } = workerData as LinkBenchData;
const control = new Int32Array(controlBuffer);
const binding = requireNative('bench/link-worker');
const device = await packetDriver.create(spec, role === 'send' ? 'transmit' : 'receive');
const ring = FrameRing.create(1 << 22);
Atomics.store(control, 1, 1);
let frames = 0;
let bytes = 0;
if (role === 'send') {
  if (!frame) throw new Error('send needs a frame');
  while (Atomics.load(control, 0) === 0) {
    while (ring.push(frame));
    ring.publish();
    const sent = device.transmit(ring, 1 << 16, 0);
    ring.release();
    frames += sent;
    bytes += sent * frame.length;
  }
} else {
  if (device.wait.kind !== 'fd') throw new Error('a receiving packet device waits on its fd');
  while (Atomics.load(control, 0) === 0) {
    const got = device.receive(ring, 256, 0);
    if (got === 0) {
      binding.pollFd(device.wait.fd, -1, 10);
      continue;
    }
    ring.publish();
    for (let at = ring.peek(); at >= 0; at = ring.peek()) {
      bytes += ring.frameLength;
      ring.next();
    }
    ring.release();
    frames += got;
  }
}
const report: LinkBenchReport = { frames, bytes, counters: device.counters() };
device.close();
parentPort!.postMessage(report);
