import type { Worker } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import type { DoorbellTable } from '../shared-ring/index.js';
import type { InterfaceConfig, StageCounters } from '../workers/stage-common.js';
import { StageHost, type LinkFacts, type StageName } from '../workers/stage-host.js';
import type { StageWorkerApi, StageWorkerData } from '../workers/stage-worker.js';
import type { ProtocolInterfaceConfig } from '../workers/tcp/protocol-stage.js';
import type { StackClock } from './clock.js';
import type { InlineScheduler } from './inline-scheduler.js';
import { moduleUrl, spawnWorker } from './spawn-worker.js';

/** The control plane of one stage host, wherever it runs. Data never passes through here. */
export interface StageHostHandle {
  readonly stages: readonly StageName[];
  readonly doorbellId: number;
  openInterface(config: InterfaceConfig): Promise<LinkFacts | null>;
  attachInterface(config: ProtocolInterfaceConfig): Promise<void>;
  detachInterface(index: number): Promise<void>;
  setGateway(gateway: number): Promise<void>;
  attachAppChannel(id: number, commands: SharedArrayBuffer, events: SharedArrayBuffer): Promise<void>;
  detachAppChannel(id: number): Promise<void>;
  attachSocketSlots(channelId: number, firstSlot: number, buffers: [SharedArrayBuffer, SharedArrayBuffer][]): Promise<void>;
  counters(): Promise<Record<string, StageCounters>>;
  close(): Promise<void>;
}

/** A host in its own worker thread, driven through comlink. */
export class WorkerStageHost implements StageHostHandle {
  private readonly api: Comlink.Remote<StageWorkerApi>;
  private closed = false;

  private constructor(
    readonly stages: readonly StageName[],
    readonly doorbellId: number,
    private readonly worker: Worker,
    private readonly doorbells: DoorbellTable,
  ) {
    this.api = Comlink.wrap<StageWorkerApi>(nodeEndpoint(worker));
  }

  static start(stages: readonly StageName[], doorbells: DoorbellTable, clock: StackClock, spinMicros: number): WorkerStageHost {
    const doorbellId = doorbells.allocate();
    const workerData: StageWorkerData = { stages, doorbells: doorbells.buffer, doorbellId, spinMicros, epochMs: clock.epochMs };
    const worker = spawnWorker(moduleUrl('../workers/stage-worker', import.meta.url), { workerData, name: `ringstack-${stages.join('+')}` });
    worker.on('error', (err) => {
      // A stage that dies takes the data path with it; say so loudly rather than hang.
      process.emitWarning(`ringstack stage worker (${stages.join('+')}) failed: ${err instanceof Error ? err.stack : String(err)}`);
    });
    return new WorkerStageHost(stages, doorbellId, worker, doorbells);
  }

  /** A control call: the worker may be asleep on its doorbell, so ring it once the message is posted. */
  private call<T>(p: Promise<T>): Promise<T> {
    this.doorbells.ring(this.doorbellId);
    return p;
  }

  openInterface(config: InterfaceConfig): Promise<LinkFacts | null> {
    return this.call(this.api.openInterface(config));
  }

  attachInterface(config: ProtocolInterfaceConfig): Promise<void> {
    return this.call(this.api.attachInterface(config));
  }

  detachInterface(index: number): Promise<void> {
    return this.call(this.api.detachInterface(index));
  }

  setGateway(gateway: number): Promise<void> {
    return this.call(this.api.setGateway(gateway));
  }

  attachAppChannel(id: number, commands: SharedArrayBuffer, events: SharedArrayBuffer): Promise<void> {
    return this.call(this.api.attachAppChannel(id, commands, events));
  }

  detachAppChannel(id: number): Promise<void> {
    return this.call(this.api.detachAppChannel(id));
  }

  attachSocketSlots(channelId: number, firstSlot: number, buffers: [SharedArrayBuffer, SharedArrayBuffer][]): Promise<void> {
    return this.call(this.api.attachSocketSlots(channelId, firstSlot, buffers));
  }

  counters(): Promise<Record<string, StageCounters>> {
    return this.call(this.api.counters());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      await Promise.race([this.call(this.api.stop()), new Promise((resolve) => setTimeout(resolve, 2000).unref())]);
    } finally {
      this.api[Comlink.releaseProxy]();
      await this.worker.terminate();
      this.doorbells.free(this.doorbellId);
    }
  }
}

/** A host on the caller's thread (`inline` layout), run by an InlineScheduler. */
export class InlineStageHost implements StageHostHandle {
  readonly host: StageHost;

  constructor(
    readonly stages: readonly StageName[],
    readonly doorbellId: number,
    private readonly scheduler: InlineScheduler,
    private readonly doorbells: DoorbellTable,
  ) {
    this.host = new StageHost({ stages, doorbells, doorbellId, spinMicros: 0, fdWatcher: scheduler });
    scheduler.addHost(this.host);
  }

  private async done<T>(value: T): Promise<T> {
    this.scheduler.kick();
    return value;
  }

  openInterface(config: InterfaceConfig): Promise<LinkFacts | null> {
    return this.host.openInterface(config).then((facts) => this.done(facts));
  }

  attachInterface(config: ProtocolInterfaceConfig): Promise<void> {
    return this.done(this.host.attachInterface(config, this.scheduler.clock.now()));
  }

  detachInterface(index: number): Promise<void> {
    return this.done(this.host.detachInterface(index));
  }

  setGateway(gateway: number): Promise<void> {
    return this.done(this.host.proto?.setGateway(gateway));
  }

  attachAppChannel(id: number, commands: SharedArrayBuffer, events: SharedArrayBuffer): Promise<void> {
    return this.done(this.host.proto?.attachAppChannel(id, commands, events));
  }

  detachAppChannel(id: number): Promise<void> {
    return this.done(this.host.proto?.detachAppChannel(id));
  }

  attachSocketSlots(channelId: number, firstSlot: number, buffers: [SharedArrayBuffer, SharedArrayBuffer][]): Promise<void> {
    return this.done(this.host.proto?.attachSocketSlots(channelId, firstSlot, buffers));
  }

  counters(): Promise<Record<string, StageCounters>> {
    return this.done(this.host.counters());
  }

  async close(): Promise<void> {
    this.scheduler.removeHost(this.host);
    this.host.close();
    this.doorbells.free(this.doorbellId);
  }
}
