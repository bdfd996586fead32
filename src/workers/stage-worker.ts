// Worker entry of a stage host: started by src/main through spawnWorker, controlled through comlink, data only
// through rings. See docs/ARCHITECTURE.md ("Threads").
import { parentPort, workerData } from 'node:worker_threads';
import * as Comlink from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { DoorbellTable, installDoorbellTable, installEventFdSignaller } from '../shared-ring/index.js';
import { installNativeCopy, loadNative } from '../link/index.js';
import { StageHost, type StageName } from './stage-host.js';
import type { InterfaceConfig } from './stage-common.js';
import type { ProtocolInterfaceConfig } from './tcp/protocol-stage.js';

export interface StageWorkerData {
  readonly stages: readonly StageName[];
  readonly doorbells: SharedArrayBuffer;
  readonly doorbellId: number;
  readonly spinMicros: number;
  /** performance.timeOrigin + performance.now() at which the stack's clock reads 0 (same in every thread). */
  readonly epochMs: number;
}

const data = workerData as StageWorkerData;
const doorbells = DoorbellTable.attach(data.doorbells);
installDoorbellTable(doorbells);
// A host sleeping in poll(2) on a device is woken through an eventfd: every thread that rings must be able to signal it.
const native = loadNative();
if (native) installEventFdSignaller((fd) => native.eventfdSignal(fd));
installNativeCopy();
const host = new StageHost({ stages: data.stages, doorbells, doorbellId: data.doorbellId, spinMicros: data.spinMicros });
const origin = performance.timeOrigin - data.epochMs;
const now = (): number => origin + performance.now();

const api = {
  openInterface: (config: InterfaceConfig) => host.openInterface(config),
  attachInterface: (config: ProtocolInterfaceConfig) => host.attachInterface(config, now()),
  detachInterface: (index: number) => host.detachInterface(index),
  setGateway: (gateway: number) => host.proto?.setGateway(gateway),
  attachAppChannel: (id: number, commands: SharedArrayBuffer, events: SharedArrayBuffer) =>
    host.proto?.attachAppChannel(id, commands, events),
  detachAppChannel: (id: number) => host.proto?.detachAppChannel(id),
  attachSocketSlots: (channelId: number, firstSlot: number, buffers: [SharedArrayBuffer, SharedArrayBuffer][]) =>
    host.proto?.attachSocketSlots(channelId, firstSlot, buffers),
  counters: () => host.counters(),
  stop: () => host.close(),
};

export type StageWorkerApi = typeof api;

Comlink.expose(api, nodeEndpoint(parentPort!));
host.runLoop(now);
