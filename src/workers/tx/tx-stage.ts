import { FRAME_CSUM_PARTIAL, forEachRecord } from '../../shared-ring/index.js';
import { finishPartialChecksum, IPPROTO_UDP } from '../../wire/index.js';
import { FRAME_DISCARD, STAGE_BATCH, type Stage, type StageCounters } from '../stage-common.js';
import { DeviceStage, type DeviceInterface } from '../device-stage.js';

const RECORD_FLAGS_BACK = 18 - 4;
const RECORD_CSUM_START_BACK = 18 - 8;
const RECORD_CSUM_OFFSET_BACK = 18 - 10;

/**
 * The transmit stage: hands each interface's frames to its device in batches. Frames the protocol stage left
 * CSUM_PARTIAL are finished here when the device cannot do it (the work moves off the protocol thread).
 */
export class TxStage extends DeviceStage implements Stage {
  private readonly c = { framesOut: 0, checksumsFinished: 0, deviceBusy: 0 };
  private current: DeviceInterface | null = null;
  private readonly finishRecord = (frameOffset: number, length: number): void => this.finish(frameOffset, length);


  poll(now: number): number {
    let work = 0;
    for (const iface of this.interfaces.values()) {
      const ring = iface.ring;
      const pending = ring.readableBytes() > 0;
      if (!pending && iface.device.pollAt(now) > now) continue;
      if (pending && !iface.device.offloads.txChecksum) {
        this.current = iface;
        forEachRecord(ring, ring.consumerPosition(), ring.tailForConsumer(), this.finishRecord);
        this.current = null;
      }
      const n = iface.device.transmit(ring, STAGE_BATCH, now);
      if (n > 0) {
        ring.release();
        this.c.framesOut += n;
        work += n;
      } else if (pending) {
        this.c.deviceBusy++;
      } else {
        // The device's own timer was due (a fault injector releasing held frames onto the wire): that is work too,
        // or an inline scheduler would think every stage idle and move its clock on past the frames' arrival.
        work++;
      }
    }
    return work;
  }

  private finish(off: number, len: number): void {
    const b = this.current!.ring.bytes;
    const flagsAt = off - RECORD_FLAGS_BACK;
    const flags = b[flagsAt] | (b[flagsAt + 1] << 8);
    if ((flags & FRAME_CSUM_PARTIAL) === 0 || (flags & FRAME_DISCARD) !== 0) return;
    const start = b[off - RECORD_CSUM_START_BACK] | (b[off - RECORD_CSUM_START_BACK + 1] << 8);
    const field = b[off - RECORD_CSUM_OFFSET_BACK] | (b[off - RECORD_CSUM_OFFSET_BACK + 1] << 8);
    const isUdp = b[off + 14 + 9] === IPPROTO_UDP;
    finishPartialChecksum(b, off + start, len - start, off + start + field, isUdp);
    const cleared = flags & ~FRAME_CSUM_PARTIAL; // finished once: a frame left for the next poll is not summed again
    b[flagsAt] = cleared & 0xff;
    b[flagsAt + 1] = cleared >>> 8;
    this.c.checksumsFinished++;
  }


  counters(): StageCounters {
    const out: StageCounters = { ...this.c };
    return this.deviceCounters(out);
  }

}
