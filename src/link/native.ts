// The native addon (native/ringstack_native.c) as this thread sees it: loaded on first use with createRequire, once
// per thread (the addon is context-aware), or the reason it is unavailable — the build error recorded by
// scripts/build-native.mjs, or "not built". Only the packet and tap drivers need it; nothing else imports it.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { installBulkCopy } from '../shared-ring/index.js';
import type { PacketRxRingMapping } from './packet-rx-ring.js';

declare const nativeHandleBrand: unique symbol;
/** An open packet socket or TAP fd inside the addon; opaque here, closed with `closeHandle`. */
export interface NativeHandle {
  readonly [nativeHandleBrand]: true;
}

/** How a packet socket receives: 0 = recvmmsg, 2 = PACKET_RX_RING TPACKET_V2, 3 = TPACKET_V3. */
export type NativeRxMode = 0 | 2 | 3;

export interface PacketOpenOptions {
  /** PACKET_VNET_HDR: frames carry virtio_net_hdr offload state both ways (default false). */
  readonly vnetHdr?: boolean;
  /** False: a transmit-only socket bound to protocol 0, which the kernel queues nothing to (default true). */
  readonly receive?: boolean;
  /** PACKET_QDISC_BYPASS on transmit (default true). */
  readonly qdiscBypass?: boolean;
  readonly rxMode?: NativeRxMode;
  /** V2: bytes per ring frame; recvmmsg: largest frame taken. Power of two, 2048–1 MiB (default 65536). */
  readonly frameSize?: number;
  /** V2: frames in the ring (default 256). */
  readonly frameCount?: number;
  /** V3: bytes per block, power of two, 64 KiB–16 MiB (default 256 KiB), and blocks (default 64). */
  readonly blockSize?: number;
  readonly blockCount?: number;
  /** V3: a partly filled block is handed over after this many ms (default 1). */
  readonly retireMs?: number;
  /** SO_SNDBUF / SO_RCVBUF (forced when we may) in bytes (default 4 MiB). */
  readonly socketBuffer?: number;
}

export interface TapOpenOptions {
  /** IFF_VNET_HDR with TUNSETOFFLOAD(CSUM | TSO4): partial checksums and TCPv4 super-frames both ways. */
  readonly vnetHdr?: boolean;
  /** Largest frame read (default 65792: a 64 KiB super-frame plus headers). */
  readonly frameSize?: number;
}

export interface NativeHandleInfo {
  readonly name: string;
  readonly fd: number;
  readonly ifindex: number;
  readonly rxMode: NativeRxMode;
  readonly frameSize: number;
  readonly vnetHdr: boolean;
  readonly receives: boolean;
}

export interface NativeCounters {
  readonly rxFrames: number;
  readonly rxBytes: number;
  /** Frames longer than the ring frame or read buffer: dropped whole, never delivered cut. */
  readonly rxTruncated: number;
  /** Frames larger than half the frame ring (FrameRing.maxFrameBytes): they could never be placed. */
  readonly rxOversize: number;
  readonly rxErrors: number;
  /** Frames the kernel dropped because our ring or socket buffer was full (PACKET_STATISTICS). */
  readonly rxKernelDrops: number;
  readonly txFrames: number;
  readonly txBytes: number;
  /** Frames the kernel refused (EMSGSIZE, EINVAL, ENETDOWN, ...): taken from the ring and counted here. */
  readonly txErrors: number;
  /** Frames the device dropped (ENOBUFS), as a wire would. */
  readonly txDropped: number;
  readonly lastRxErrno: number;
  readonly lastTxErrno: number;
}

export interface InterfaceFacts {
  readonly name: string;
  readonly index: number;
  readonly mtu: number;
  /** 48-bit MAC as a number; 0 for interfaces that are not Ethernet. */
  readonly mac: number;
  readonly up: boolean;
  readonly loopback: boolean;
  readonly ethernet: boolean;
}

declare const nativeFdWatchBrand: unique symbol;
/** A watch on an fd in this thread's event loop (watchFd); stopped with `unwatchFd`. */
export interface NativeFdWatch {
  readonly [nativeFdWatchBrand]: true;
}

/** pollFd result bits. */
export const POLL_DEVICE = 1;
export const POLL_WAKE = 2;

export interface NativeBinding {
  /** An AF_PACKET socket bound to `ifname`, created inside `netns` (a path like /var/run/netns/NAME) if given. */
  packetOpen(ifname: string, netns: string | null, options?: PacketOpenOptions): NativeHandle;
  /** Attaches to (or creates) TAP device `name` (IFF_TAP | IFF_NO_PI), inside `netns` if given. */
  tapOpen(name: string, netns: string | null, options?: TapOpenOptions): NativeHandle;
  /** A handle over a TAP fd opened elsewhere in this process (not closed by closeHandle). */
  tapAttach(fd: number, options?: Pick<TapOpenOptions, 'frameSize'>): NativeHandle;
  handleInfo(handle: NativeHandle): NativeHandleInfo;
  handleCounters(handle: NativeHandle): NativeCounters;
  /**
   * Writes up to maxFrames received frames as records at cursor[0] (the producer's tail; cursor[1] = the
   * consumer's head) of the frame ring whose whole buffer `ring` views; stores the new tail in cursor[0].
   */
  receiveFrames(handle: NativeHandle, ring: Uint8Array, cursor: Uint32Array, maxFrames: number, maxBytes?: number): number;
  /** Sends up to maxFrames records from cursor[0] (head) up to cursor[1] (tail); stores the new head in cursor[0]. */
  transmitFrames(handle: NativeHandle, ring: Uint8Array, cursor: Uint32Array, maxFrames: number): number;
  /** Closes the socket or fd and unmaps the ring; closing twice is harmless. */
  closeHandle(handle: NativeHandle): void;
  /** Sleeps until `fd` is readable or `wakeFd` (an eventfd, drained here) is signalled; -1 = none / forever. */
  pollFd(fd: number, wakeFd: number, timeoutMs: number): number;
  eventfdCreate(): number;
  eventfdSignal(fd: number): void;
  eventfdClose(fd: number): void;
  /**
   * Calls `onReadable` from this thread's event loop (libuv) whenever `fd` is readable, without blocking the thread:
   * how an inline stack waits for its kernel device. The watch keeps the thread alive until `unwatchFd`, which must
   * come before the fd is closed; a thread that ends with it still open has it closed by a cleanup hook.
   */
  watchFd(fd: number, onReadable: () => void): NativeFdWatch;
  /** Stops and releases a watch; harmless twice. */
  unwatchFd(watch: NativeFdWatch): void;
  interfaceInfo(name: string, netns: string | null): InterfaceFacts;
  /** The TPACKET_V2 receive ring of a receiving packet handle, to read in place (PacketRxRing). */
  packetRxRing(handle: NativeHandle): PacketRxRingMapping;
  /** memmove of `length` bytes between two Uint8Arrays (shared or not); throws on a range outside either. */
  copyBytes(dst: Uint8Array, dstOffset: number, src: Uint8Array, srcOffset: number, length: number): void;
  listInterfaces(netns: string | null): InterfaceFacts[];
  /** glibc's M_TRIM_THRESHOLD and M_MMAP_THRESHOLD (bytes, 0 = leave alone), process-wide; false where not glibc. */
  mallocTune(trimThresholdBytes: number, mmapThresholdBytes: number): boolean;
}

// From src/link/ (tsx, vitest) and from dist/src/link/ (the installed package).
const ADDON_CANDIDATES = ['../../native/build/', '../../../native/build/'];

let loaded: { binding: NativeBinding } | { reason: string } | undefined;

function load(): { binding: NativeBinding } | { reason: string } {
  for (const candidate of ADDON_CANDIDATES) {
    const buildDir = fileURLToPath(new URL(candidate, import.meta.url));
    const addon = `${buildDir}Release/ringstack_native.node`;
    if (existsSync(addon)) {
      try {
        return { binding: createRequire(import.meta.url)(addon) as NativeBinding };
      } catch (error) {
        return { reason: `loading ${addon} failed: ${(error as Error).message}` };
      }
    }
    const reasonFile = `${buildDir}unavailable.txt`;
    if (existsSync(reasonFile)) return { reason: readFileSync(reasonFile, 'utf8').trim() };
  }
  return { reason: 'not built (run `node scripts/build-native.mjs` in the package, or `npm rebuild ringstack`)' };
}

/** The addon, or null when it is unavailable (see nativeUnavailableReason). */
export function loadNative(): NativeBinding | null {
  loaded ??= load();
  return 'binding' in loaded ? loaded.binding : null;
}

/**
 * Lets this thread's ring copies of 1 KiB and more run as the addon's memmove (shared-ring's BulkCopy) when the
 * addon loads; without it they stay TypedArray.set. Returns whether it did.
 */
export function installNativeCopy(): boolean {
  const binding = loadNative();
  if (binding) installBulkCopy(binding.copyBytes);
  return binding !== null;
}

/**
 * Heap memory glibc keeps instead of handing it back to the kernel (M_TRIM_THRESHOLD), and the size from which it
 * maps allocations of their own (M_MMAP_THRESHOLD). With glibc's defaults (128 KiB, then as large as the largest
 * mapped block freed so far) a reader that gets a fresh 64 KiB Buffer per 'data' event faults most of them in anew:
 * V8 frees them in bursts, glibc returns the top of its heap, and the next reads touch new pages. Measured on the
 * packet link (docs/PERFORMANCE.md, "page faults in the 'data' path"): 256 MiB received with 6 000–31 000 faults
 * and 1 250–2 250 ms of CPU per GB; with these values ~1 500 faults and ~1 000 ms per GB.
 */
export const MALLOC_TRIM_THRESHOLD_BYTES = 32 << 20;
export const MALLOC_MMAP_THRESHOLD_BYTES = 8 << 20;

let mallocTuned = false;

/**
 * Applies MALLOC_TRIM_THRESHOLD_BYTES and MALLOC_MMAP_THRESHOLD_BYTES to this process's glibc malloc, once. A
 * process-wide choice (a stack's `mallocTuning` option turns it off). Returns whether the values are in force.
 */
export function tuneMalloc(): boolean {
  if (mallocTuned) return true;
  const binding = loadNative();
  if (!binding) return false;
  mallocTuned = binding.mallocTune(MALLOC_TRIM_THRESHOLD_BYTES, MALLOC_MMAP_THRESHOLD_BYTES);
  return mallocTuned;
}

/** Why the addon cannot be used here, or null when it can. */
export function nativeUnavailableReason(): string | null {
  loaded ??= load();
  return 'reason' in loaded ? loaded.reason : null;
}

/** The addon, or an Error naming `what` needed it and why it is unavailable. */
export function requireNative(what: string): NativeBinding {
  const binding = loadNative();
  if (!binding) throw new Error(`${what} needs the native addon (native/), which is unavailable: ${nativeUnavailableReason()}`);
  return binding;
}

/** A namespace given by name (`ip netns` style) or as a path; undefined means the thread's own namespace. */
export function netnsPath(netns: string | undefined): string | null {
  if (netns === undefined || netns === '') return null;
  return netns.includes('/') ? netns : `/var/run/netns/${netns}`;
}
