import { DoorbellTable, FrameRing } from '../shared-ring/index.js';
import { AppEvent, createAppRecord, pushAppRecord, readAppRecord, type AppRecord } from '../workers/app-protocol.js';
import type { InlinePump } from './inline-scheduler.js';

const COMMAND_RING_BYTES = 4 << 20;
const EVENT_RING_BYTES = 8 << 20;
/**
 * The pump sleeps without a timeout. An Atomics.waitAsync with one leaves a delayed task in Node's platform, which
 * Node drops by a linear search of all of them when it fires: at thousands of waits per second the main thread
 * spent 15 % of its time in PerIsolatePlatformData::DeleteFromScheduledTasks (perf, TCP ping-pong in layout
 * `single`), and ping-pong p50 was 167–188 µs against 104–115 µs without (connections/s 5 800–6 900 against
 * 7 400–8 000). No wake-up can be missed: prepareSleep → re-check → wait, and the stage rings this doorbell when it
 * publishes events and when it releases commands (room for the backlog).
 */
const PUMP_SLEEP_MS = Infinity;

/** The two rings of an app channel, made on the thread that attaches them to the protocol stage. */
export function createAppChannelRings(): { commands: SharedArrayBuffer; events: SharedArrayBuffer } {
  return {
    commands: FrameRing.create(COMMAND_RING_BYTES).buffer as SharedArrayBuffer,
    events: FrameRing.create(EVENT_RING_BYTES).buffer as SharedArrayBuffer,
  };
}

/** Writes one command into the ring; returns false if it does not fit yet. */
export type CommandWriter = (ring: FrameRing) => boolean;

export type EventHandler = (record: AppRecord, bytes: Uint8Array) => void;

/** What a TCP socket's slot events go to (`AppChannelClient.bindSlot`): one object per connection, no closures. */
export interface SlotEventSink {
  onSlotEvent(record: AppRecord, bytes: Uint8Array): void;
}

/** The events whose id is a socket slot (app-protocol.ts), dispatched through the slot table. */
function isSlotEvent(op: number): boolean {
  return op === AppEvent.TcpConnected || (op >= AppEvent.TcpReadable && op <= AppEvent.TcpClosed) || op === AppEvent.TcpInfo;
}

/**
 * The application side of one app channel: commands to the protocol stage, events back. Handlers are keyed by
 * the id in the record (listener id, ping id, UDP socket id); a TCP socket's events go to the socket bound to its
 * slot (`bindSlot`). Commands that do not fit wait, in order, in a backlog: nothing the application asked for is
 * dropped on this side. In worker layouts the main thread waits for events with Atomics.waitAsync on its own
 * doorbell; inline, the scheduler calls `drain`.
 */
export class AppChannelClient implements InlinePump {
  readonly commands: FrameRing;
  readonly events: FrameRing;
  private readonly handlers = new Map<number, Map<number, EventHandler>>();
  /** Slot → the socket its events go to: set and cleared once per connection, where a Map per event kind churned. */
  private readonly slotSinks: (SlotEventSink | null)[] = [];
  private readonly backlog: CommandWriter[] = [];
  private readonly record = createAppRecord();
  private publishScheduled = false;
  private isClosed = false;
  private nextId = 1;

  constructor(
    readonly id: number,
    private readonly doorbells: DoorbellTable,
    private readonly doorbellId: number,
    /** Called after commands are published (inline: kick the scheduler). */
    private readonly onCommands: () => void,
    /** Rings made elsewhere (an application worker attaching to a channel the main thread created). */
    rings?: { readonly commands: SharedArrayBuffer; readonly events: SharedArrayBuffer },
  ) {
    this.commands = rings ? FrameRing.attach(rings.commands) : FrameRing.create(COMMAND_RING_BYTES);
    this.events = rings ? FrameRing.attach(rings.events) : FrameRing.create(EVENT_RING_BYTES);
    this.events.setConsumerDoorbell(doorbellId);
    this.commands.setProducerDoorbell(doorbellId);
  }

  get closed(): boolean {
    return this.isClosed;
  }

  allocateId(): number {
    const id = this.nextId;
    this.nextId = id >= 0xffffffff ? 1 : id + 1;
    return id;
  }

  on(op: number, id: number, handler: EventHandler): void {
    let byId = this.handlers.get(op);
    if (!byId) this.handlers.set(op, (byId = new Map()));
    byId.set(id, handler);
  }

  off(op: number, id: number): void {
    this.handlers.get(op)?.delete(id);
  }

  /** Sends the slot's TCP socket events (connected, readable, ..., closed, info) to `sink` until `unbindSlot`. */
  bindSlot(slot: number, sink: SlotEventSink): void {
    while (this.slotSinks.length <= slot) this.slotSinks.push(null);
    this.slotSinks[slot] = sink;
  }

  unbindSlot(slot: number): void {
    if (slot < this.slotSinks.length) this.slotSinks[slot] = null;
  }

  /** `send` for a record without data: no closure unless it has to wait in the backlog. */
  sendRecord(op: number, id: number, address: number, port: number, extra: number, value: number): void {
    if (this.isClosed || this.backlog.length > 0 || !pushAppRecord(this.commands, op, id, address, port, extra, value)) {
      this.send((ring) => pushAppRecord(ring, op, id, address, port, extra, value));
      return;
    }
    this.schedulePublish();
  }

  /** Queues a command; it reaches the protocol stage at the end of this tick (one publish per batch). */
  send(write: CommandWriter): void {
    if (this.isClosed) throw new Error('the stack is closed');
    if (this.backlog.length > 0 || !write(this.commands)) this.backlog.push(write);
    this.schedulePublish();
  }

  private schedulePublish(): void {
    if (this.publishScheduled) return;
    this.publishScheduled = true;
    queueMicrotask(this.publishCommands);
  }

  private readonly publishCommands = (): void => {
    this.publishScheduled = false;
    this.commands.publish();
    this.onCommands();
  };

  private flushBacklog(): number {
    let n = 0;
    while (this.backlog.length > 0 && this.backlog[0](this.commands)) {
      this.backlog.shift();
      n++;
    }
    if (n > 0) {
      this.commands.publish();
      this.onCommands();
    }
    return n;
  }

  /** Dispatches every published event and moves waiting commands into the ring. Returns events + commands moved. */
  drain(): number {
    let n = 0;
    const events = this.events;
    const rec = this.record;
    while (readAppRecord(events, rec)) {
      if (isSlotEvent(rec.op)) this.slotSinks[rec.id]?.onSlotEvent(rec, events.bytes);
      else this.handlers.get(rec.op)?.get(rec.id)?.(rec, events.bytes);
      events.next();
      n++;
      if ((n & 255) === 0) events.release();
    }
    if (n > 0) events.release();
    return n + this.flushBacklog();
  }

  /** Worker layouts: wait for events on the main thread without blocking it. */
  async pump(): Promise<void> {
    const { doorbells, doorbellId } = this;
    while (!this.isClosed) {
      this.drain();
      const seq = doorbells.prepareSleep(doorbellId);
      try {
        const idle = this.events.readableBytes() === 0 && (this.backlog.length === 0 || this.commands.writableBytes() === 0);
        if (idle) await doorbells.waitAsync(doorbellId, seq, PUMP_SLEEP_MS);
      } finally {
        doorbells.finishSleep(doorbellId);
      }
    }
  }

  close(): void {
    this.isClosed = true;
    this.doorbells.ring(this.doorbellId);
  }
}
