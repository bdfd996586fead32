// A stack shared by application threads (a piscina pool, any worker): each thread gets an app channel of its own
// (the rings are single-producer, single-consumer) and registers its socket-buffer slots through the thread that
// owns the stack, over a BroadcastChannel. Data still moves only through the rings.
import { BroadcastChannel, threadId } from 'node:worker_threads';
import { installNativeCopy } from '../link/index.js';
import { DoorbellTable, doorbellTable, installDoorbellTable } from '../shared-ring/index.js';
import { AppChannelClient } from './app-channel.js';
import { AppEndpoint } from './app-endpoint.js';
import { RealClock } from './clock.js';
import { SocketSlotPool } from './socket-slots.js';
import type { AppChannelGrant, Stack } from './stack.js';

/** Structured-cloneable: pass it in workerData (piscina's too). Each thread that attaches takes one channel. */
export interface StackHandle {
  readonly doorbells: SharedArrayBuffer;
  /** Name of the BroadcastChannel on which the owning thread registers slots. */
  readonly bus: string;
  readonly epochMs: number;
  readonly socketBufferBytes: number;
  /** Int32[0]: channels taken so far. */
  readonly claims: SharedArrayBuffer;
  readonly channels: readonly { readonly id: number; readonly commands: SharedArrayBuffer; readonly events: SharedArrayBuffer }[];
}

interface SlotRequest {
  readonly kind: 'slots';
  readonly request: string;
  readonly channel: number;
  readonly first: number;
  readonly buffers: [SharedArrayBuffer, SharedArrayBuffer][];
}

interface SlotReply {
  readonly kind: 'slots-done';
  readonly request: string;
  readonly error?: string;
}

let handlesMade = 0;

/**
 * Makes `threads` app channels on `stack` for application threads, and serves their control requests until
 * `close()` (call it before closing the stack).
 */
export async function shareStack(stack: Stack, threads: number): Promise<{ handle: StackHandle; close(): void }> {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`threads must be 1..256, got ${String(threads)}`);
  const grants = new Map<number, AppChannelGrant>();
  for (let i = 0; i < threads; i++) {
    const grant = await stack.openAppChannel();
    grants.set(grant.id, grant);
  }
  const first = [...grants.values()][0];
  const bus = `ringstack-${process.pid}-${threadId}-${++handlesMade}`;
  const channel = new BroadcastChannel(bus);
  channel.unref();
  channel.onmessage = (event: unknown) => {
    const message = (event as { data: SlotRequest | SlotReply }).data;
    if (message.kind !== 'slots') return;
    const grant = grants.get(message.channel);
    const reply = (error?: string): void => channel.postMessage({ kind: 'slots-done', request: message.request, error } satisfies SlotReply);
    if (!grant) return reply(`no channel ${message.channel} in this handle`);
    grant.registerSlots(message.first, message.buffers).then(() => reply(), (err: unknown) => reply(String(err)));
  };
  return {
    handle: {
      doorbells: doorbellTable().buffer,
      bus,
      epochMs: first.epochMs,
      socketBufferBytes: first.socketBufferBytes,
      claims: new SharedArrayBuffer(4),
      channels: [...grants.values()].map(({ id, commands, events }) => ({ id, commands, events })),
    },
    close: () => channel.close(),
  };
}

/** A shared stack as one application thread sees it: node:net/dgram-shaped sockets and ping. */
export class AppStack extends AppEndpoint {
  constructor(
    channel: AppChannelClient,
    pool: SocketSlotPool,
    clock: RealClock,
    private readonly control: BroadcastChannel,
    private readonly doorbellId: number,
  ) {
    super(channel, pool, clock);
  }

  /** Stops this thread's event pump; its channel stays with the stack until the stack closes. */
  close(): void {
    this.channel.close();
    this.control.close();
    doorbellTable().free(this.doorbellId);
  }
}

const attached = new Map<string, AppStack>();

/** Attaches this thread to a shared stack (once per thread and handle: later calls return the same AppStack). */
export function attachStack(handle: StackHandle): AppStack {
  const known = attached.get(handle.bus);
  if (known) return known;
  const index = Atomics.add(new Int32Array(handle.claims), 0, 1);
  const grant = handle.channels[index];
  if (!grant) throw new Error(`all ${handle.channels.length} channels of this stack handle are taken (one per thread)`);
  let table: DoorbellTable;
  try {
    table = doorbellTable();
    if (table.buffer !== handle.doorbells) throw new Error('another doorbell table');
  } catch {
    table = DoorbellTable.attach(handle.doorbells);
    installDoorbellTable(table);
  }
  installNativeCopy(); // this thread reads and writes socket rings too
  const doorbellId = table.allocate();
  const channel = new AppChannelClient(grant.id, table, doorbellId, () => undefined, grant);
  const control = new BroadcastChannel(handle.bus);
  control.unref();
  const waiting = new Map<string, { resolve: () => void; reject: (e: Error) => void }>();
  control.onmessage = (event: unknown) => {
    const message = (event as { data: SlotRequest | SlotReply }).data;
    if (message.kind !== 'slots-done') return;
    const w = waiting.get(message.request);
    if (!w) return;
    waiting.delete(message.request);
    if (message.error) w.reject(new Error(`registering socket buffers failed: ${message.error}`));
    else w.resolve();
  };
  let requests = 0;
  const register = (first: number, buffers: [SharedArrayBuffer, SharedArrayBuffer][]): Promise<void> =>
    new Promise((resolve, reject) => {
      const request = `${grant.id}-${++requests}`;
      waiting.set(request, { resolve, reject });
      control.postMessage({ kind: 'slots', request, channel: grant.id, first, buffers } satisfies SlotRequest);
    });
  const stack = new AppStack(channel, new SocketSlotPool(channel, register, handle.socketBufferBytes), new RealClock(handle.epochMs), control, doorbellId);
  void channel.pump();
  attached.set(handle.bus, stack);
  return stack;
}
