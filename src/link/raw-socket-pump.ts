// The main-thread half of the `raw` link (raw.ts says why it exists): raw IP sockets of the npm raw-socket package
// on one side, a pair of frame rings to the stages on the other.
import { createRequire } from 'node:module';
import { FRAME_CSUM_VALID, FrameRing, copyBytes, doorbellTable, type DoorbellTable } from '../shared-ring/index.js';
import { ETHERNET_HEADER_BYTES, ETHERTYPE_IPV4, formatIpv4Address, readU32 } from '../wire/index.js';
import { RAW_LINK_DEFAULT_MARK, RAW_LINK_PROTOCOLS, type RawLinkSpec, type RawProtocol, type RawRingLinkSpec } from './raw.js';

/** The part of raw-socket 1.8 we use (it ships no types). */
interface RawSocket {
  on(event: 'message', listener: (buffer: Buffer, source: string) => void): void;
  on(event: 'error', listener: (error: Error) => void): void;
  send(buffer: Buffer, offset: number, length: number, address: string, after: (error: Error | null, bytes: number) => void): void;
  setOption(level: number, option: number, value: number): void;
  setOption(level: number, option: number, value: Buffer, length: number): void;
  close(): void;
}

interface RawSocketModule {
  createSocket(options: { protocol: number; addressFamily?: number; bufferSize?: number }): RawSocket;
  SocketLevel: { SOL_SOCKET: number; IPPROTO_IP: number };
  SocketOption: { IP_HDRINCL: number; SO_RCVBUF: number; SO_BINDTODEVICE?: number };
}

const IPPROTO_RAW = 255;
const SO_MARK = 36; // Linux; raw-socket passes any option number through to setsockopt
const RING_BYTES = 4 << 20;
const RECEIVE_BUFFER_BYTES = 65536 + 64; // a whole reassembled datagram
const SOCKET_RCVBUF_BYTES = 4 << 20;
/** Sends raw-socket holds before we stop taking frames from the ring (then the ring's backpressure applies). */
const SEND_QUEUE_LIMIT = 512;
/**
 * No timeout: a timed Atomics.waitAsync leaves a delayed task in Node's platform that costs a linear search when it
 * fires (see PUMP_SLEEP_MS in src/main/app-channel.ts). The stages ring us when they publish frames, and onSent
 * rings when the send queue leaves its limit, so no wake-up is missed.
 */
const MAX_SLEEP_MS = Infinity;

/**
 * Strong references to every open pump, so GC never collects a raw socket while it is in use: raw-socket's
 * watcher is stopped when its wrapper is collected (after ~900 packets without a reference: packet-path-facts.md).
 */
const openPumps = new Set<RawSocketPump>();

let loaded: RawSocketModule | null = null;

/** Loads raw-socket (an optional dependency built from source), or says why it cannot. */
export function loadRawSocket(): RawSocketModule {
  if (loaded) return loaded;
  try {
    loaded = createRequire(import.meta.url)('raw-socket') as RawSocketModule;
    return loaded;
  } catch (error) {
    throw new Error(
      `raw link unavailable: the optional dependency raw-socket could not be loaded (${(error as Error).message.split('\n')[0]}); ` +
        'it builds from source during npm install and needs python3, make and g++',
    );
  }
}

/** The spec's options with their defaults, or a clear error. */
function checkRawSpec(spec: RawLinkSpec): { mtu: number; protocols: readonly RawProtocol[]; mark: number } {
  const mtu = spec.mtu ?? 1500;
  if (!Number.isInteger(mtu) || mtu < 68 || mtu > 65535) throw new RangeError(`raw link: mtu must be an integer from 68 to 65535, got ${String(mtu)}`);
  const protocols = spec.protocols ?? (Object.keys(RAW_LINK_PROTOCOLS) as RawProtocol[]);
  for (const p of protocols) if (!(p in RAW_LINK_PROTOCOLS)) throw new TypeError(`raw link: unknown protocol ${JSON.stringify(p)} (icmp, udp, tcp)`);
  const mark = spec.mark ?? RAW_LINK_DEFAULT_MARK;
  if (!Number.isInteger(mark) || mark < 0 || mark > 0xffffffff) throw new RangeError(`raw link: mark must be a 32-bit unsigned integer, got ${String(mark)}`);
  if (spec.device !== undefined && (typeof spec.device !== 'string' || spec.device === '' || spec.device.length > 15)) {
    throw new TypeError(`raw link: device must be an interface name (1-15 characters), got ${JSON.stringify(spec.device)}`);
  }
  return { mtu, protocols, mark };
}

export interface RawSocketPumpCounters {
  received: number;
  notForUs: number;
  receiveRingFull: number;
  sent: number;
  sendErrors: number;
  notIpv4: number;
}

/**
 * Runs the raw sockets of one `raw` link on the main thread: received IP packets for `address` go into the receive
 * ring behind a synthesized Ethernet header; frames the stages put in the transmit ring leave through an
 * IPPROTO_RAW socket (IP_HDRINCL: our header as it is; the kernel routes it and fills in the header checksum).
 */
export class RawSocketPump {
  readonly spec: RawRingLinkSpec;
  readonly counters: RawSocketPumpCounters = { received: 0, notForUs: 0, receiveRingFull: 0, sent: 0, sendErrors: 0, notIpv4: 0 };
  private readonly receiveRing: FrameRing;
  private readonly transmitRing: FrameRing;
  private readonly receivers: RawSocket[] = [];
  private readonly sender: RawSocket;
  private readonly doorbells: DoorbellTable;
  private readonly doorbellId: number;
  private pending = 0;
  private publishScheduled = false;
  private closed = false;
  private readonly transmitDone: Promise<void>;
  lastError: Error | null = null;

  private constructor(spec: RawLinkSpec, private readonly address: number, module: RawSocketModule) {
    const { mtu, protocols, mark } = checkRawSpec(spec);
    this.receiveRing = FrameRing.create(RING_BYTES);
    this.transmitRing = FrameRing.create(RING_BYTES);
    this.spec = {
      driver: 'raw', name: 'raw0', mtu,
      receiveRing: this.receiveRing.buffer as SharedArrayBuffer, transmitRing: this.transmitRing.buffer as SharedArrayBuffer,
    };
    const opened: RawSocket[] = [];
    try {
      const { SOL_SOCKET, IPPROTO_IP } = module.SocketLevel;
      for (const p of protocols) {
        const socket = module.createSocket({ protocol: RAW_LINK_PROTOCOLS[p], bufferSize: RECEIVE_BUFFER_BYTES });
        opened.push(socket);
        socket.setOption(SOL_SOCKET, module.SocketOption.SO_RCVBUF, SOCKET_RCVBUF_BYTES);
        if (spec.device) {
          const name = Buffer.from(`${spec.device}\0`);
          socket.setOption(SOL_SOCKET, module.SocketOption.SO_BINDTODEVICE ?? 25, name, name.length);
        }
        socket.on('message', (packet) => this.onPacket(packet));
        socket.on('error', (error) => this.onError(error));
        this.receivers.push(socket);
      }
      this.sender = module.createSocket({ protocol: IPPROTO_RAW });
      opened.push(this.sender);
      this.sender.setOption(IPPROTO_IP, module.SocketOption.IP_HDRINCL, 1);
      if (mark) this.sender.setOption(SOL_SOCKET, SO_MARK, mark);
      this.sender.on('error', (error) => this.onError(error));
    } catch (error) {
      for (const s of opened) s.close();
      const e = error as Error;
      throw new Error(`raw link: ${e.message}${/EPERM|Operation not permitted/.test(e.message) ? ' (raw sockets need CAP_NET_RAW; a mark needs CAP_NET_ADMIN)' : ''}`);
    }
    this.doorbells = doorbellTable();
    this.doorbellId = this.doorbells.allocate();
    this.transmitRing.setConsumerDoorbell(this.doorbellId);
    this.receiveRing.setProducerDoorbell(this.doorbellId);
    openPumps.add(this);
    this.transmitDone = this.transmitLoop();
  }

  /** Opens the raw sockets for a stack whose address on this link is `address` (IPv4 as a number). */
  static open(spec: RawLinkSpec, address: number): RawSocketPump {
    checkRawSpec(spec); // bad options are reported as such even where raw-socket is missing
    return new RawSocketPump(spec, address, loadRawSocket());
  }

  /** A received IP packet (IPv4 raw sockets hand over the IP header): into the ring behind an Ethernet header. */
  private onPacket(packet: Buffer): void {
    if (this.closed || packet.length < 20) return;
    // Every raw socket sees every packet of its protocol delivered to any of the host's addresses.
    if (readU32(packet, 16) !== this.address) {
      this.counters.notForUs++;
      return;
    }
    const ring = this.receiveRing;
    const length = ETHERNET_HEADER_BYTES + packet.length;
    const at = ring.reserve(length);
    if (at < 0) {
      this.counters.receiveRingFull++; // the stages are behind: lost, as in a full socket buffer
      return;
    }
    ring.bytes.fill(0, at, at + 12);
    ring.bytes[at + 12] = ETHERTYPE_IPV4 >>> 8;
    ring.bytes[at + 13] = ETHERTYPE_IPV4 & 0xff;
    copyBytes(ring.bytes, at + ETHERNET_HEADER_BYTES, packet, 0, packet.length);
    // Trusted, not verified: a raw socket gets the packet before the kernel's TCP/UDP checks, and a packet from a
    // local sender or a veth peer still carries the partial checksum of offloading (CHECKSUM_PARTIAL), which no
    // sum over the bytes would accept. The kernel has checked the IP header; the NIC, if any, the rest.
    ring.commit(length, FRAME_CSUM_VALID);
    this.counters.received++;
    // One publish per burst of messages (they arrive one per callback).
    if (!this.publishScheduled) {
      this.publishScheduled = true;
      queueMicrotask(() => {
        this.publishScheduled = false;
        this.receiveRing.publish();
      });
    }
  }

  private onError(error: Error): void {
    // raw-socket closes a socket after an error; the link keeps what still works and stats show the reason.
    this.lastError = error;
    this.counters.sendErrors++;
  }

  /** Sends what the stages queued, sleeping on our doorbell (waitAsync) when there is nothing or too much pending. */
  private async transmitLoop(): Promise<void> {
    const { doorbells, doorbellId } = this;
    while (!this.closed) {
      this.drainTransmit();
      const seq = doorbells.prepareSleep(doorbellId);
      try {
        const idle = this.transmitRing.readableBytes() === 0 || this.pending >= SEND_QUEUE_LIMIT;
        if (idle && !this.closed) await doorbells.waitAsync(doorbellId, seq, MAX_SLEEP_MS);
      } finally {
        doorbells.finishSleep(doorbellId);
      }
    }
  }

  private drainTransmit(): void {
    const ring = this.transmitRing;
    let taken = 0;
    for (let off = ring.peek(); off >= 0 && this.pending < SEND_QUEUE_LIMIT; off = ring.peek()) {
      const length = ring.frameLength;
      const b = ring.bytes;
      if (length >= ETHERNET_HEADER_BYTES + 20 && ((b[off + 12] << 8) | b[off + 13]) === ETHERTYPE_IPV4) {
        // A copy: raw-socket sends later, from its queue, and the ring space is released now.
        const packet = Buffer.from(b.subarray(off + ETHERNET_HEADER_BYTES, off + length));
        this.pending++;
        this.sender.send(packet, 0, packet.length, formatIpv4Address(readU32(packet, 16)), (error) => this.onSent(error));
      } else {
        this.counters.notIpv4++;
      }
      ring.next();
      taken++;
    }
    if (taken > 0) ring.release();
  }

  private onSent(error: Error | null): void {
    const wasFull = this.pending >= SEND_QUEUE_LIMIT;
    this.pending--;
    if (error) {
      this.counters.sendErrors++;
      this.lastError = error;
    } else {
      this.counters.sent++;
    }
    if (wasFull) this.doorbells.ring(this.doorbellId);
  }

  /** Closes the sockets and stops the transmit loop. The stages' devices must be closed first (detach). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.doorbells.ring(this.doorbellId);
    await this.transmitDone;
    for (const s of this.receivers) s.close();
    this.sender.close();
    this.doorbells.free(this.doorbellId);
    openPumps.delete(this);
  }
}
