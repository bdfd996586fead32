import { FrameRing, doorbellTable, installEventFdSignaller } from '../shared-ring/index.js';
import {
  RawSocketPump, createPcapFile, installNativeCopy, tuneMalloc, isUnopenedRawSpec, loadNative, openSharedTap, parseLinkName, type LinkSpec, type LinkWrapperOptions,
  type SharedTap, type TapLinkSpec,
} from '../link/index.js';
import { formatIpv4Address, formatMac, parseCidr, parseIpv4Address } from '../wire/index.js';
import type { InterfaceConfig, StageCounters } from '../workers/stage-common.js';
import type { LinkFacts, StageName } from '../workers/stage-host.js';
import { AppChannelClient, createAppChannelRings } from './app-channel.js';
import { RealClock, VirtualClock, type StackClock } from './clock.js';
import { InlineScheduler } from './inline-scheduler.js';
import { tuneHeapGrowth } from './heap-tuning.js';
import { InlineStageHost, WorkerStageHost, type StageHostHandle } from './stage-hosts.js';
import { AppEndpoint } from './app-endpoint.js';
export type { PingOptions } from './app-endpoint.js';
import { DEFAULT_SOCKET_BUFFER_BYTES, SocketSlotPool } from './socket-slots.js';

/**
 * Where the stages run. On 2 cores, spinning stages starve each other (docs/PERFORMANCE.md has the measurements
 * behind the default).
 * - `three`: rx, protocol and tx each in a worker; `rx+proto`: rx and protocol in one worker, tx in another;
 * - `single`: all stages in one worker; `inline`: no worker — the caller's thread, on a clock it controls (on a
 *   kernel link: the real clock, woken by the thread's event loop when the device's fd is readable).
 */
export type StackLayout = 'three' | 'rx+proto' | 'single' | 'inline';

/**
 * Chosen by bench/stack.ts (docs/PERFORMANCE.md, "Stack layouts"): on 2 cores one worker beat two and three in
 * UDP echo rate and ping latency and matched them in one-way throughput; every hop between sleeping threads costs
 * a wake-up.
 */
export const DEFAULT_LAYOUT: StackLayout = 'single';

/**
 * Default idle spin of a stage host (µs). The 2-core rule: never more spinning threads than cores, and the
 * application's thread needs one. bench/stack.ts measured 0, 20 and 50 µs: spinning made echo rates and ping
 * latency worse in every worker layout (docs/PERFORMANCE.md, "Stack layouts"), so hosts sleep at once.
 */
const DEFAULT_SPIN_MICROS = 0;

const LAYOUTS: Record<StackLayout, StageName[][]> = {
  three: [['rx'], ['proto'], ['tx']],
  'rx+proto': [['rx', 'proto'], ['tx']],
  single: [['rx', 'proto', 'tx']],
  inline: [['rx', 'proto', 'tx']],
};

const INTERFACE_RING_BYTES = 4 << 20;
const LOOPBACK_RING_BYTES = 4 << 20;

export interface StackOptions {
  /** A link spec (from createMemoryWire, or `{ driver, ... }`) or a link name such as `packet:eth0`, `tap:tap0`. */
  readonly link: (LinkSpec & LinkWrapperOptions) | string;
  /** Our address and prefix, e.g. `198.18.1.1/24`. */
  readonly address: string;
  readonly gateway?: string;
  /** Caps the link's MTU. */
  readonly mtu?: number;
  readonly layout?: StackLayout;
  /**
   * `inline` only: 'virtual' (default; stacks sharing it share a scheduler), 'real' (the default, and the only
   * choice, on a packet or tap link), or your own clock.
   */
  readonly clock?: 'virtual' | 'real' | StackClock;
  /** Write every frame of the link to this pcap file. */
  readonly pcap?: string;
  /** How long idle stage workers poll before sleeping (µs); default 0 (measured: spinning does not pay on 2 cores). */
  readonly spinMicros?: number;
  /** Size of each TCP socket's send and receive ring (a power of two; default 4 MiB, DEFAULT_SOCKET_BUFFER_BYTES). */
  readonly socketBufferBytes?: number;
  /**
   * Tune this process's glibc malloc for streams of fresh Buffers (default true; process-wide, applied once, needs
   * the native addon): see MALLOC_TRIM_THRESHOLD_BYTES in src/link/native.ts. false leaves malloc alone.
   */
  readonly mallocTuning?: boolean;
  /**
   * Let V8's old generation grow to 4× its live size between full collections (default true; process-wide, applied
   * once, unless node was given its own `--heap-growing-percent`): see src/main/heap-tuning.ts. false leaves V8 alone.
   */
  readonly heapTuning?: boolean;
}

export interface InterfaceInfo {
  readonly index: number;
  readonly name: string;
  readonly address: string;
  readonly prefixLength: number;
  readonly mac: string;
  readonly mtu: number;
}

export interface RingOccupancy {
  readonly usedBytes: number;
  readonly capacityBytes: number;
}

/** An app channel granted to an application thread (see `Stack.openAppChannel`). */
export interface AppChannelGrant {
  readonly id: number;
  readonly commands: SharedArrayBuffer;
  readonly events: SharedArrayBuffer;
  readonly epochMs: number;
  readonly socketBufferBytes: number;
  registerSlots(first: number, buffers: [SharedArrayBuffer, SharedArrayBuffer][]): Promise<void>;
}

export interface StackStats {
  readonly layout: StackLayout;
  readonly interfaces: readonly InterfaceInfo[];
  /** Per-stage counters: rx, proto, tx (drops by reason are the `drop*` entries). */
  readonly stages: Readonly<Record<string, StageCounters>>;
  /** Bytes waiting in each ring. */
  readonly rings: Readonly<Record<string, RingOccupancy>>;
}

interface AttachedInterface {
  readonly info: InterfaceInfo;
  readonly config: InterfaceConfig;
  readonly rx: FrameRing;
  readonly tx: FrameRing;
  /** A link whose I/O must run on this thread (raw): closed after the stages' devices. */
  readonly mainThreadLink: RawSocketPump | null;
  /** The TAP fd this thread opened for stages in different threads: closed after the stages' devices. */
  readonly sharedTap: SharedTap | null;
}

export interface AttachOptions {
  readonly link: (LinkSpec & LinkWrapperOptions) | string;
  readonly address: string;
  readonly mtu?: number;
  readonly pcap?: string;
}

const schedulers = new WeakMap<StackClock, InlineScheduler>();
let sharedVirtualClock: VirtualClock | null = null;
let sharedRealClock: RealClock | null = null;
let channelsMade = 0;

/** Kernel devices: their fds are watched (inline) or polled (workers), and their peers keep real time. */
function isKernelLink(link: LinkSpec): boolean {
  return link.driver === 'packet' || link.driver === 'tap';
}

/**
 * The stack's clock. Inline stacks default to the shared virtual clock, except on a kernel link: a kernel peer
 * keeps real time (its retransmission timers, its pings), so there they default to the real clock and refuse a
 * virtual one.
 */
function resolveClock(layout: StackLayout, clock: StackOptions['clock'], link: LinkSpec): StackClock {
  const resolved = clock && typeof clock === 'object' ? clock
    : layout === 'inline' && (clock === 'virtual' || (clock === undefined && !isKernelLink(link))) ? (sharedVirtualClock ??= new VirtualClock())
    : (sharedRealClock ??= new RealClock());
  assertClockFitsLink(resolved, link);
  return resolved;
}

function assertClockFitsLink(clock: StackClock, link: LinkSpec): void {
  if (clock.virtual && isKernelLink(link)) {
    throw new TypeError(
      `a ${link.driver} link needs the real clock: the kernel on the other side does not wait for a virtual clock ` +
        "(use clock: 'real', the default for layout 'inline' on a kernel link)",
    );
  }
}

function schedulerFor(clock: StackClock): InlineScheduler {
  let s = schedulers.get(clock);
  if (!s) schedulers.set(clock, (s = new InlineScheduler(clock)));
  return s;
}

function linkSpecOf(link: StackOptions['link']): LinkSpec & LinkWrapperOptions {
  const spec = typeof link === 'string' ? parseLinkName(link) : link;
  if (!spec || typeof spec.driver !== 'string') throw new TypeError('link must be a link spec ({ driver, ... }) or a link name such as packet:eth0');
  return spec;
}

function withPcap(spec: LinkSpec & LinkWrapperOptions, pcap: string | undefined, clock: StackClock): LinkSpec & LinkWrapperOptions {
  if (!pcap) return spec;
  createPcapFile(pcap);
  return { ...spec, pcap, epochMs: clock.epochMs };
}

function parseAddress(text: string): { address: number; prefixLength: number } {
  const cidr = parseCidr(text);
  if (!cidr) throw new TypeError(`bad address ${JSON.stringify(text)}: expected A.B.C.D/N`);
  return { address: cidr.address, prefixLength: cidr.prefixLength };
}

/**
 * A TCP/IP stack instance: its stage hosts, its interfaces (loopback is index 0), and the application channel of
 * this thread. Made by `createStack`.
 */
export class Stack extends AppEndpoint {
  private readonly interfaces = new Map<number, AttachedInterface>();
  private nextIndex = 0;
  private closed = false;
  private readonly pumpDone: Promise<void> | null;

  private constructor(
    readonly layout: StackLayout,
    clock: StackClock,
    private readonly hosts: StageHostHandle[],
    channel: AppChannelClient,
    private readonly scheduler: InlineScheduler | null,
    private readonly mainDoorbell: number,
    socketBufferBytes: number,
  ) {
    const protoHost = hosts.find((h) => h.stages.includes('proto'))!;
    super(
      channel,
      new SocketSlotPool(channel, (first, buffers) => protoHost.attachSocketSlots(channel.id, first, buffers), socketBufferBytes),
      clock,
      () => scheduler?.kick(),
    );
    this.pumpDone = scheduler ? null : channel.pump();
    if (scheduler) scheduler.addPump(channel);
  }

  /** @internal use createStack */
  static async create(options: StackOptions): Promise<Stack> {
    const layout = options.layout ?? DEFAULT_LAYOUT;
    if (!(layout in LAYOUTS)) throw new TypeError(`unknown layout ${JSON.stringify(layout)} (one of ${Object.keys(LAYOUTS).join(', ')})`);
    const primary = parseAddress(options.address);
    const gateway = options.gateway === undefined ? 0 : parseIpv4Address(options.gateway);
    if (gateway < 0) throw new TypeError(`bad gateway ${JSON.stringify(options.gateway)}`);
    const spec = linkSpecOf(options.link);
    const clock = resolveClock(layout, options.clock, spec);
    const link = withPcap(spec, options.pcap, clock);
    const doorbells = doorbellTable();
    installNativeCopy();
    if (options.mallocTuning !== false) tuneMalloc();
    if (options.heapTuning !== false) tuneHeapGrowth();
    if (isKernelLink(link)) {
      // Stage hosts of kernel devices sleep in poll(2): our rings must signal their eventfds too.
      const native = loadNative();
      if (native) installEventFdSignaller((fd) => native.eventfdSignal(fd));
    }
    const scheduler = layout === 'inline' ? schedulerFor(clock) : null;
    const spin = options.spinMicros ?? DEFAULT_SPIN_MICROS;
    const hosts: StageHostHandle[] = LAYOUTS[layout].map((stages) =>
      scheduler ? new InlineStageHost(stages, doorbells.allocate(), scheduler, doorbells) : WorkerStageHost.start(stages, doorbells, clock, spin),
    );
    const mainDoorbell = doorbells.allocate();
    const channel = new AppChannelClient(++channelsMade, doorbells, mainDoorbell, () => scheduler?.kick());
    const bufferBytes = options.socketBufferBytes ?? DEFAULT_SOCKET_BUFFER_BYTES;
    if (!Number.isInteger(bufferBytes) || bufferBytes < 4096 || (bufferBytes & (bufferBytes - 1)) !== 0) {
      throw new RangeError(`socketBufferBytes must be a power of two ≥ 4096, got ${String(bufferBytes)}`);
    }
    const stack = new Stack(layout, clock, hosts, channel, scheduler, mainDoorbell, bufferBytes);
    try {
      await stack.protoHost().attachAppChannel(channel.id, channel.commands.buffer as SharedArrayBuffer, channel.events.buffer as SharedArrayBuffer);
      const loopbackRing = FrameRing.create(LOOPBACK_RING_BYTES).buffer as SharedArrayBuffer;
      await stack.attachInterface('lo', { driver: 'loopback', ring: loopbackRing }, 0x7f000001, 8, undefined);
      await stack.attachInterface(undefined, link, primary.address, primary.prefixLength, options.mtu);
      if (gateway) await stack.protoHost().setGateway(gateway);
    } catch (err) {
      await stack.close();
      throw err;
    }
    return stack;
  }

  private protoHost(): StageHostHandle {
    return this.hosts.find((h) => h.stages.includes('proto'))!;
  }

  private async attachInterface(
    name: string | undefined, link: LinkSpec & LinkWrapperOptions, address: number, prefixLength: number, mtuCap: number | undefined,
  ): Promise<InterfaceInfo> {
    assertClockFitsLink(this.clock, link);
    const index = this.nextIndex++;
    // raw-socket works only on the main thread: its sockets run here and the stages get a pair of rings.
    const mainThreadLink = isUnopenedRawSpec(link) ? RawSocketPump.open({ mtu: mtuCap, ...link }, address) : null;
    if (mainThreadLink) link = { ...link, ...mainThreadLink.spec };
    // A single-queue TAP accepts one open fd: when rx and tx run in different threads, both use one opened here.
    const sharedTap = this.needsSharedTap(link) ? openSharedTap(link.name, { netns: link.netns, vnetHdr: link.vnetHdr }) : null;
    if (sharedTap) link = { ...link, fd: sharedTap.fd };
    const rx = FrameRing.create(INTERFACE_RING_BYTES);
    const tx = FrameRing.create(INTERFACE_RING_BYTES);
    const base: InterfaceConfig = {
      index, name: name ?? '', link, address, prefixLength, mtu: 0, mac: 0, needsArp: true,
      rxRing: rx.buffer as SharedArrayBuffer, txRing: tx.buffer as SharedArrayBuffer,
    };
    // The receive half first: it owns the device (a packet socket's MAC and MTU come from opening it).
    const ordered = [...this.hosts].sort((a, b) => Number(b.stages.includes('rx')) - Number(a.stages.includes('rx')));
    let facts: LinkFacts | null = null;
    const opened: StageHostHandle[] = [];
    try {
      for (const h of ordered) {
        if (!h.stages.includes('rx') && !h.stages.includes('tx')) continue;
        const f = await h.openInterface(base);
        opened.push(h);
        facts ??= f;
      }
      if (!facts) throw new Error('no stage opened the link');
      const mtu = Math.min(facts.mtu, mtuCap ?? Infinity, rx.maxFrameBytes - 14);
      const config: InterfaceConfig = { ...base, name: name ?? facts.name, mtu, mac: facts.mac, needsArp: facts.needsArp, txChecksumOffload: facts.offloads.txChecksum, tso: facts.offloads.tso };
      await this.protoHost().attachInterface(config);
      const info: InterfaceInfo = { index, name: config.name, address: formatIpv4Address(address), prefixLength, mac: formatMac(facts.mac), mtu };
      this.interfaces.set(index, { info, config, rx, tx, mainThreadLink, sharedTap });
      return info;
    } catch (err) {
      for (const h of opened) await h.detachInterface(index).catch(() => undefined);
      await mainThreadLink?.close();
      sharedTap?.close();
      throw err;
    }
  }

  private needsSharedTap(link: LinkSpec): link is TapLinkSpec {
    const tap = link as Partial<TapLinkSpec>;
    if (link.driver !== 'tap' || tap.fd !== undefined || typeof tap.name !== 'string') return false; // the driver explains a bad spec
    const rx = this.hosts.find((h) => h.stages.includes('rx'));
    return rx !== undefined && !rx.stages.includes('tx');
  }

  /** Attaches another interface to the running stack (a loadable device, NetBSD-style). Routes and ARP follow it. */
  async attach(options: AttachOptions): Promise<InterfaceInfo> {
    this.assertOpen();
    const { address, prefixLength } = parseAddress(options.address);
    return this.attachInterface(undefined, withPcap(linkSpecOf(options.link), options.pcap, this.clock), address, prefixLength, options.mtu);
  }

  /** Detaches an interface by index or name; its routes and ARP entries go with it, its device closes. */
  async detach(which: number | string): Promise<void> {
    this.assertOpen();
    const iface = [...this.interfaces.values()].find((i) => i.info.index === which || i.info.name === which);
    if (!iface) throw new Error(`no interface ${String(which)}`);
    if (iface.info.index === 0) throw new Error('loopback cannot be detached');
    this.interfaces.delete(iface.info.index);
    // Protocol first (no new frames), then the devices.
    await this.protoHost().detachInterface(iface.info.index);
    for (const h of this.hosts) if (!h.stages.includes('proto')) await h.detachInterface(iface.info.index);
    await iface.mainThreadLink?.close();
    iface.sharedTap?.close();
  }

  interfaceList(): InterfaceInfo[] {
    return [...this.interfaces.values()].map((i) => i.info);
  }

  /** The stack's primary address (first non-loopback interface). */
  get address(): string {
    return [...this.interfaces.values()].find((i) => i.info.index !== 0)?.info.address ?? '127.0.0.1';
  }

  /**
   * @internal A further app channel on this stack's protocol stage, for an application thread (app-thread.ts):
   * its rings, and how its socket-buffer slots are registered (a control-plane call only this thread can make).
   */
  async openAppChannel(): Promise<AppChannelGrant> {
    this.assertOpen();
    const id = ++channelsMade;
    const rings = createAppChannelRings();
    await this.protoHost().attachAppChannel(id, rings.commands, rings.events);
    return {
      id, ...rings, epochMs: this.clock.epochMs, socketBufferBytes: this.pool.bufferBytes,
      registerSlots: (first, buffers) => this.protoHost().attachSocketSlots(id, first, buffers),
    };
  }

  async stats(): Promise<StackStats> {
    this.assertOpen();
    const stages: Record<string, StageCounters> = {};
    for (const h of this.hosts) Object.assign(stages, await h.counters());
    // Links whose I/O runs on this thread (raw) count here, per interface as the stages do.
    for (const i of this.interfaces.values()) {
      if (!i.mainThreadLink) continue;
      stages.main ??= {};
      for (const [k, v] of Object.entries(i.mainThreadLink.counters)) stages.main[`if${i.info.index}.${k}`] = v;
    }
    const rings: Record<string, RingOccupancy> = {};
    // Read from outside both ends: published tail minus released head, both loaded fresh.
    const occupancy = (ring: FrameRing): RingOccupancy => ({ usedBytes: (ring.tailForConsumer() - ring.headForProducer()) >>> 0, capacityBytes: ring.capacity });
    for (const i of this.interfaces.values()) {
      rings[`${i.info.name}.rx`] = occupancy(i.rx);
      rings[`${i.info.name}.tx`] = occupancy(i.tx);
    }
    rings['app.commands'] = occupancy(this.channel.commands);
    rings['app.events'] = occupancy(this.channel.events);
    return { layout: this.layout, interfaces: this.interfaceList(), stages, rings };
  }

  /** Ends the stage workers and frees everything; nothing of the stack is left running. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channel.close();
    this.scheduler?.removePump(this.channel);
    await this.pumpDone;
    await Promise.allSettled(this.hosts.map((h) => h.close()));
    for (const i of this.interfaces.values()) {
      await i.mainThreadLink?.close();
      i.sharedTap?.close();
    }
    doorbellTable().free(this.mainDoorbell);
  }

  protected override assertOpen(): void {
    if (this.closed) throw new Error('the stack is closed');
  }
}

/** Starts a stack: its stage workers (per `layout`), loopback at 127.0.0.1, and the given link. */
export function createStack(options: StackOptions): Promise<Stack> {
  return Stack.create(options);
}
