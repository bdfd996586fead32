import { FRAME_CSUM_PARTIAL, FRAME_CSUM_VALID, FRAME_GSO_TCPV4, FrameRing, RECORD_HEADER_BYTES, copyBytes } from '../../shared-ring/index.js';
import {
  ARP_OP_REPLY, ARP_OP_REQUEST, BROADCAST_MAC, DropReason, ETHERNET_HEADER_BYTES, ETHERTYPE_ARP, ETHERTYPE_IPV4,
  ICMP_DEST_UNREACHABLE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPV4_DEFAULT_TTL,
  IPV4_HEADER_BYTES, IcmpUnreachableCode, UDP_HEADER_BYTES, copyWithChecksum, createArpRepr, createEthernetRepr,
  createIcmpRepr, createIpv4Repr, createUdpRepr, emitArp, emitEthernet, emitIcmpEcho, emitIcmpError, emitIpv4,
  emitUdpSummed, isIcmpError, parseArp, parseEthernet, parseIcmp, parseIpv4, parseUdp, pseudoHeaderSum, readU16,
  DROP_REASON_COUNT, dropReasonName, checksumSwapBytes, createTcpRepr, emitTcpHeader, finishTcpChecksumSummed,
  parseTcp, tcpOptionsLength, TCP_HEADER_BYTES, TCP_CHECKSUM_OFFSET, partialChecksumSeed, writeU16, readU32, TCP_FIN, TCP_PSH, DOUBLE_NONE, DOUBLE_ZERO,
} from '../../wire/index.js';
import {
  AppCommand, AppError, AppEvent, beginAppRecord, commitAppRecord, createAppRecord, pushAppRecord, readAppRecord,
} from '../app-protocol.js';
import { FRAME_DISCARD, OUTPUT_HEADROOM_BYTES, STAGE_BATCH, STAGE_BATCH_BYTES, type InterfaceConfig, type Stage, type StageCounters } from '../stage-common.js';
import type { FrameSource } from '../../link/index.js';
import { ArpCache, type PendingPacket } from './arp-cache.js';
import { ReceiveCoalescer } from './receive-coalescer.js';
import { Reassembler } from './reassembly.js';
import { RouteTable, maskOf, type RouteResult } from './route-table.js';
import { TcpSocketLayer, type SocketLayerHost } from './socket-layer.js';
import type { TcpConfig, TcpSegmentOut } from './types.js';

/** An interface as the protocol stage needs it: addresses, link facts and its two rings (not the link itself). */
export type ProtocolInterfaceConfig = Omit<InterfaceConfig, 'link'>;

interface Interface {
  readonly config: ProtocolInterfaceConfig;
  readonly index: number;
  readonly address: number;
  readonly mask: number;
  readonly broadcast: number;
  readonly mac: number;
  readonly mtu: number;
  readonly needsArp: boolean;
  /** The loopback interface (127/8, no ARP). A point-to-point L3 link (raw) needs no ARP either but is not this. */
  readonly loopback: boolean;
  readonly txChecksumOffload: boolean;
  /** Longest TCP segment (header and text) the device takes as a super-segment to cut (TSO); 0 without TSO. */
  readonly superSegmentLimit: number;
  /** Received frames: the rx stage's ring, or the device's own memory read in place (LinkDevice.directReceive). */
  readonly rx: FrameSource;
  readonly tx: FrameRing;
  txPending: boolean;
}

interface AppChannel {
  readonly id: number;
  readonly commands: FrameRing;
  readonly events: FrameRing;
  eventsPending: boolean;
}

interface UdpSocket {
  readonly channel: AppChannel;
  readonly id: number;
  readonly localAddress: number; // 0 = any
  readonly localPort: number;
  remoteAddress: number; // connected peer, 0 if none
  remotePort: number;
}

// Who is told when a queued packet cannot be sent: packed as kind * 2^32 + id, plus the channel in the key.
const ORIGIN_NONE = 0;
const ORIGIN_UDP = 1;
const ORIGIN_PING = 2;

/** Verified by the rx stage or the device, or never computed because it never left this machine (virtio's rule). */
const CHECKSUM_TRUSTED = FRAME_CSUM_VALID | FRAME_CSUM_PARTIAL;
const EPHEMERAL_FIRST = 49152;
const EPHEMERAL_LAST = 65535;
const ICMP_ERROR_TOKENS_PER_MS = 0.1; // 100 errors per second (RFC 1812 §4.3.2.8 asks for a rate limit)
const ICMP_ERROR_BURST = 50;
/** RFC 1812 §4.3.2.3: an ICMP error quotes as much of the datagram as fits in 576 bytes. */
const ICMP_QUOTE_MAX = 576 - IPV4_HEADER_BYTES - 8;

/**
 * The protocol stage: ARP, IPv4 (input checks, routing, fragmentation and reassembly), ICMP and UDP, and the
 * application channels. One `poll` is mTCP's loop body: receive a batch per interface → process → timers →
 * application commands → publish output. Time is passed in; nothing here reads a clock.
 */
export class ProtocolStage implements Stage, SocketLayerHost {
  private readonly interfaces = new Map<number, Interface>();
  private readonly channels = new Map<number, AppChannel>();
  private readonly routes = new RouteTable();
  private readonly arp = new ArpCache();
  private readonly reassembler = new Reassembler();
  private readonly udpByPort = new Map<number, UdpSocket[]>();
  private readonly udpById = new Map<string, UdpSocket>();
  private readonly pings = new Map<number, { channel: AppChannel; pingId: number }>();
  private nextPingIdentifier = 1;
  private nextEphemeral = EPHEMERAL_FIRST;
  private ipId = 1;
  private gateway = 0;
  private icmpTokens = ICMP_ERROR_BURST;
  private icmpTokensAt = 0;
  private readonly drops = new Float64Array(DROP_REASON_COUNT);
  private readonly c = {
    framesIn: 0, arpIn: 0, arpRequestsOut: 0, arpRepliesOut: 0, ipIn: 0, ipNotForUs: 0, ipDelivered: 0, ipOut: 0,
    fragmentsOut: 0, noRoute: 0, arpFailures: 0, txRingFull: 0, icmpIn: 0, icmpEchoRepliesOut: 0, icmpErrorsOut: 0,
    icmpRateLimited: 0, udpIn: 0, udpNoPort: 0, udpDelivered: 0, udpReceiveBufferErrors: 0, udpOut: 0,
    tcpIn: 0, tcpSuperSegmentsOut: 0, tcpSuperSegmentPieces: 0, tcpSuperSegmentsCutHere: 0, commands: 0, unknownCommands: 0,
    eventRingFull: 0,
  };
  // Reused parse results: nothing is allocated per packet on the fast path.
  private readonly eth = createEthernetRepr();
  private readonly ip = createIpv4Repr();
  private readonly udp = createUdpRepr();
  private readonly icmp = createIcmpRepr();
  private readonly arpRepr = createArpRepr();
  private readonly record = createAppRecord();
  private readonly route: RouteResult = { ifIndex: -1, nextHop: DOUBLE_ZERO };
  private readonly tcpRepr = createTcpRepr();
  /** Joins runs of MTU-sized segments of a batch before TCP input (receive-coalescer.ts, Linux's GRO). */
  private readonly coalescer = new ReceiveCoalescer((now, src, dst, tcp, b) => this.tcp.input(now, src, dst, tcp, b));
  private readonly spans = new Int32Array(4);
  private readonly tcp: TcpSocketLayer;
  private now = DOUBLE_ZERO;
  // The packet being built by beginIp/finishIp.
  private readonly scratch = new Uint8Array(ETHERNET_HEADER_BYTES + 65535 + 8);
  private out = { bytes: this.scratch as Uint8Array, frame: 0, iface: null as Interface | null, nextHop: DOUBLE_ZERO, mac: DOUBLE_NONE, direct: false, ipLength: 0, src: DOUBLE_ZERO, error: 0 };

  constructor(private readonly doorbellId: number, tcpConfig: Partial<TcpConfig> = {}) {
    this.tcp = new TcpSocketLayer(this, tcpConfig);
  }

  // ───────────────────────── control plane ─────────────────────────

  /** `inPlace`: the device's received frames, read where they are instead of from `config.rxRing`. */
  attachInterface(config: ProtocolInterfaceConfig, now: number, inPlace: FrameSource | null = null): void {
    if (this.interfaces.has(config.index)) throw new Error(`interface ${config.index} is already attached`);
    const mask = maskOf(config.prefixLength);
    const loopback = !config.needsArp && (config.address >>> 24) === 127;
    const txChecksumOffload = config.txChecksumOffload ?? false;
    const tx = FrameRing.attach(config.txRing);
    // TSO needs the checksum left partial too (virtio: GSO implies NEEDS_CSUM); the IP total length caps a
    // super-segment at 65535 bytes, and so does the largest frame the tx ring always takes.
    const tso = (config.tso ?? false) && txChecksumOffload && !loopback;
    const iface: Interface = {
      config, index: config.index, address: config.address, mask, broadcast: (config.address | ~mask) >>> 0,
      mac: config.mac, mtu: config.mtu, needsArp: config.needsArp, loopback, txChecksumOffload,
      superSegmentLimit: tso ? Math.min(65535, tx.maxFrameBytes - ETHERNET_HEADER_BYTES) - IPV4_HEADER_BYTES : 0,
      rx: inPlace ?? FrameRing.attach(config.rxRing), tx, txPending: false,
    };
    if (iface.rx instanceof FrameRing) iface.rx.setConsumerDoorbell(this.doorbellId);
    iface.tx.setProducerDoorbell(this.doorbellId);
    this.interfaces.set(config.index, iface);
    if (iface.loopback) this.routes.setLoopback(config.index);
    else this.routes.addLocal(config.address);
    this.routes.add({ network: (config.address & mask) >>> 0, prefixLength: config.prefixLength, mask, ifIndex: config.index, gateway: 0 });
    if (this.gateway) this.addDefaultRoute();
    // Gratuitous ARP (RFC 5227 §3 announcement): peers learn us and stale caches are corrected.
    if (config.needsArp) this.sendArp(iface, ARP_OP_REQUEST, 0, config.address, now);
    this.publish();
  }

  detachInterface(index: number): void {
    const iface = this.interfaces.get(index);
    if (!iface) throw new Error(`no interface ${index}`);
    this.interfaces.delete(index);
    this.routes.removeInterface(index);
    this.routes.removeLocal(iface.address);
    this.arp.forgetInterface(index, (_ip, pending) => this.failPending(pending, AppError.EHOSTUNREACH));
  }

  setGateway(gateway: number): void {
    this.gateway = gateway;
    this.addDefaultRoute();
  }

  private addDefaultRoute(): void {
    for (const iface of this.interfaces.values()) {
      if (((this.gateway & iface.mask) >>> 0) === ((iface.address & iface.mask) >>> 0) && !iface.loopback) {
        this.routes.removeInterface(-1);
        this.routes.add({ network: 0, prefixLength: 0, mask: 0, ifIndex: iface.index, gateway: this.gateway });
        return;
      }
    }
  }

  attachAppChannel(id: number, commands: SharedArrayBuffer, events: SharedArrayBuffer): void {
    const channel: AppChannel = { id, commands: FrameRing.attach(commands), events: FrameRing.attach(events), eventsPending: false };
    channel.commands.setConsumerDoorbell(this.doorbellId);
    channel.events.setProducerDoorbell(this.doorbellId);
    this.channels.set(id, channel);
  }

  detachAppChannel(id: number): void {
    const channel = this.channels.get(id);
    if (!channel) return;
    this.channels.delete(id);
    this.tcp.detachChannel(channel);
    for (const s of [...this.udpById.values()]) if (s.channel === channel) this.closeUdp(s);
  }

  /** Registers socket-buffer slots (pairs of byte rings: send, receive) of an application channel for TCP. */
  attachSocketSlots(channelId: number, firstSlot: number, buffers: readonly (readonly [SharedArrayBuffer, SharedArrayBuffer])[]): void {
    const channel = this.channels.get(channelId);
    if (!channel) throw new Error(`no app channel ${channelId}`);
    this.tcp.attachSlots(channel, firstSlot, buffers);
  }

  // ───────────────────────── the loop body ─────────────────────────

  poll(now: number): number {
    this.now = now;
    this.tcp.now = now;
    let work = 0;
    for (const iface of this.interfaces.values()) work += this.receiveBatch(iface, now);
    if (this.arp.nextTimer() <= now) this.runArpTimers(now);
    if (this.reassembler.nextTimer() <= now) this.reassembler.onTimers(now);
    if (this.tcp.pollAt() <= now && this.outputHasRoom()) this.tcp.onTimers(now);
    this.tcp.beginCommandBatch();
    for (const channel of this.channels.values()) work += this.commandBatch(channel, now);
    this.tcp.endCommandBatch(now);
    this.tcp.flushNotices();
    this.publish();
    return work;
  }

  pollAt(): number {
    return Math.min(this.arp.nextTimer(), this.reassembler.nextTimer(), this.tcp.pollAt());
  }

  /** Output rings have room for what one more input may produce (backpressure instead of loss). */
  private outputHasRoom(): boolean {
    for (const iface of this.interfaces.values()) if (iface.tx.writableBytes() < OUTPUT_HEADROOM_BYTES) return false;
    return true;
  }

  private receiveBatch(iface: Interface, now: number): number {
    const rx = iface.rx;
    let n = 0;
    let bytes = 0;
    this.tcp.beginInputBatch();
    while (n < STAGE_BATCH && bytes < STAGE_BATCH_BYTES && this.outputHasRoom()) {
      const off = rx.peek();
      if (off < 0) break;
      const length = rx.frameLength;
      if ((rx.flags & FRAME_DISCARD) === 0) this.handleFrame(iface, rx.bytes, off, length, (rx.flags & CHECKSUM_TRUSTED) !== 0, now);
      rx.next();
      n++;
      bytes += length;
    }
    this.coalescer.flush(now); // before the frames it may hold go back to the device
    rx.release(); // also when peek() only skipped frames (a packet ring hands those slots back here)
    this.tcp.endInputBatch(now);
    return n;
  }

  private drop(reason: number): void {
    this.drops[reason]++;
  }

  private handleFrame(iface: Interface, b: Uint8Array, off: number, len: number, csumValid: boolean, now: number): void {
    this.c.framesIn++;
    const eth = this.eth;
    const r = parseEthernet(b, off, len, eth);
    if (r !== DropReason.Ok) return this.drop(r);
    if (iface.needsArp && eth.dst !== iface.mac && eth.dst !== BROADCAST_MAC) {
      this.c.ipNotForUs++;
      return;
    }
    if (eth.etherType === ETHERTYPE_IPV4) this.handleIpv4(iface, b, eth.payloadOffset, eth.payloadLength, csumValid, now);
    else if (eth.etherType === ETHERTYPE_ARP) this.handleArp(iface, b, eth.payloadOffset, eth.payloadLength, now);
    else this.drop(DropReason.UnknownEtherType);
  }

  // ───────────────────────── ARP (RFC 826) ─────────────────────────

  private handleArp(iface: Interface, b: Uint8Array, off: number, len: number, now: number): void {
    if (!iface.needsArp) return;
    const a = this.arpRepr;
    const r = parseArp(b, off, len, a);
    if (r !== DropReason.Ok) return this.drop(r);
    this.c.arpIn++;
    const forUs = a.targetIp === iface.address;
    // RFC 826 merge: refresh what we know; learn the sender only if we are its target.
    if (a.senderIp !== 0 && (forUs || this.arp.has(a.senderIp))) {
      const pending = this.arp.learn(iface.index, a.senderIp, a.senderMac, now);
      if (pending) for (const p of pending) this.transmitIpPacket(iface, a.senderMac, p.packet, 0, p.packet.length);
    }
    if (forUs && a.op === ARP_OP_REQUEST) this.sendArp(iface, ARP_OP_REPLY, a.senderMac, a.senderIp, now);
  }

  private sendArp(iface: Interface, op: number, targetMac: number, targetIp: number, _now: number): void {
    const tx = iface.tx;
    const off = tx.reserve(ETHERNET_HEADER_BYTES + 28);
    if (off < 0) {
      this.c.txRingFull++;
      return;
    }
    const dstMac = op === ARP_OP_REPLY ? targetMac : BROADCAST_MAC;
    emitEthernet(tx.bytes, off, dstMac, iface.mac, ETHERTYPE_ARP);
    const a = this.arpRepr;
    a.op = op;
    a.senderMac = iface.mac;
    a.senderIp = iface.address;
    a.targetMac = op === ARP_OP_REPLY ? targetMac : 0;
    a.targetIp = targetIp;
    emitArp(tx.bytes, off + ETHERNET_HEADER_BYTES, a);
    tx.commit(ETHERNET_HEADER_BYTES + 28, 0, iface.index);
    iface.txPending = true;
    if (op === ARP_OP_REPLY) this.c.arpRepliesOut++;
    else this.c.arpRequestsOut++;
  }

  private runArpTimers(now: number): void {
    this.arp.onTimers(
      now,
      (ifIndex, ip) => {
        const iface = this.interfaces.get(ifIndex);
        if (iface) this.sendArp(iface, ARP_OP_REQUEST, 0, ip, now);
      },
      (_ip, pending) => {
        this.c.arpFailures++;
        this.failPending(pending, AppError.EHOSTUNREACH);
      },
    );
  }

  private failPending(pending: PendingPacket[], error: number): void {
    const told = new Set<number>();
    for (const p of pending) {
      const packet = p.packet;
      if (packet[9] === IPPROTO_TCP && error === AppError.EHOSTUNREACH) {
        // A TCP segment names its connection by its addresses and ports (a SYN that found no neighbour).
        const l4 = (packet[0] & 0x0f) << 2;
        this.tcp.networkError(this.now, readU32(packet, 12), readU16(packet, l4), readU32(packet, 16), readU16(packet, l4 + 2), 'EHOSTUNREACH');
        continue;
      }
      if (p.origin === ORIGIN_NONE || told.has(p.origin)) continue;
      told.add(p.origin);
      this.reportOriginError(p.origin, error, packet);
    }
  }

  // ───────────────────────── IPv4 input ─────────────────────────

  private isOurs(iface: Interface, dst: number): boolean {
    return dst === iface.address || dst === 0xffffffff || dst === iface.broadcast || this.routes.isLocal(dst);
  }

  private handleIpv4(iface: Interface, b: Uint8Array, off: number, len: number, csumValid: boolean, now: number): void {
    const ip = this.ip;
    const r = parseIpv4(b, off, len, ip, !csumValid);
    if (r !== DropReason.Ok) return this.drop(r);
    this.c.ipIn++;
    if (!this.isOurs(iface, ip.dst)) {
      this.c.ipNotForUs++; // no forwarding: we are a host (RFC 1122 §3.3.1)
      return;
    }
    if (ip.moreFragments || ip.fragmentOffset > 0) {
      const whole = this.reassembler.insert(
        b, off, ip.payloadOffset, ip.payloadLength, ip.src, ip.dst, ip.protocol, ip.id, ip.fragmentOffset, ip.moreFragments, now,
      );
      if (!whole) return;
      const rr = parseIpv4(whole.datagram, 0, whole.datagram.length, ip, false);
      if (rr !== DropReason.Ok) return this.drop(rr);
      csumValid = false; // the transport checksum covers all fragments: nobody could check it before
      b = whole.datagram;
    }
    this.c.ipDelivered++;
    switch (ip.protocol) {
      case IPPROTO_UDP:
        return this.handleUdp(iface, b, csumValid, now);
      case IPPROTO_ICMP:
        return this.handleIcmp(iface, b, now);
      case IPPROTO_TCP: {
        this.c.tcpIn++;
        const pseudo = csumValid ? -1 : pseudoHeaderSum(ip.src, ip.dst, IPPROTO_TCP, ip.payloadLength);
        const rt = parseTcp(b, ip.payloadOffset, ip.payloadLength, this.tcpRepr, pseudo);
        if (rt !== DropReason.Ok) return this.drop(rt);
        return this.coalescer.input(now, ip.src, ip.dst, this.tcpRepr, b);
      }
      default:
        this.drop(DropReason.UnknownProtocol);
        this.sendIcmpError(b, ICMP_DEST_UNREACHABLE, IcmpUnreachableCode.Protocol, now);
    }
  }

  // ───────────────────────── ICMP (RFC 792) ─────────────────────────

  private handleIcmp(_iface: Interface, b: Uint8Array, now: number): void {
    const ip = this.ip;
    const icmp = this.icmp;
    const r = parseIcmp(b, ip.payloadOffset, ip.payloadLength, icmp);
    if (r !== DropReason.Ok) return this.drop(r);
    this.c.icmpIn++;
    if (icmp.type === ICMP_ECHO_REQUEST) {
      if (ip.dst === 0xffffffff || ip.dst === _iface.broadcast) return; // no replies to broadcast pings (RFC 1122 §3.2.2.6 allows silence)
      const src = ip.dst, dst = ip.src, id = icmp.id, seq = icmp.seq, dataOffset = icmp.dataOffset, dataLength = icmp.dataLength;
      const l4 = this.beginIp(dst, IPPROTO_ICMP, 8 + dataLength, src, now);
      if (l4 < 0) return;
      emitIcmpEcho(this.out.bytes, l4, ICMP_ECHO_REPLY, id, seq, b, dataOffset, dataLength);
      this.finishIp(ORIGIN_NONE, now);
      this.c.icmpEchoRepliesOut++;
    } else if (icmp.type === ICMP_ECHO_REPLY) {
      const ping = this.pings.get(icmp.id);
      if (!ping) return;
      this.emitEvent(ping.channel, AppEvent.PingReply, ping.pingId, ip.src, 0, icmp.seq, ip.ttl);
    } else if (isIcmpError(icmp.type)) {
      this.handleIcmpError(b, icmp.type, icmp.code);
    }
  }

  private handleIcmpError(b: Uint8Array, type: number, code: number): void {
    const icmp = this.icmp;
    const error = type !== ICMP_DEST_UNREACHABLE ? AppError.EHOSTUNREACH
      : code === IcmpUnreachableCode.Port ? AppError.ECONNREFUSED
      : code === IcmpUnreachableCode.Net ? AppError.ENETUNREACH
      : code === IcmpUnreachableCode.FragmentationNeeded ? AppError.EMSGSIZE
      : AppError.EHOSTUNREACH;
    if (icmp.quotedProtocol === IPPROTO_UDP) {
      for (const s of this.udpByPort.get(icmp.quotedSrcPort) ?? []) {
        // Like Linux: only a connected socket hears of errors (an unconnected one could not tell whose they are).
        if (s.remoteAddress === icmp.quotedDst && s.remotePort === icmp.quotedDstPort) {
          this.emitEvent(s.channel, AppEvent.UdpError, s.id, icmp.quotedDst, icmp.quotedDstPort, 0, error);
        }
      }
    } else if (icmp.quotedProtocol === IPPROTO_TCP) {
      // RFC 1122 §4.2.3.9: net/host unreachable are soft errors, protocol/port unreachable hard ones; the engine
      // aborts only connections still opening. Fragmentation needed (PMTU) is not acted on: we send MSS-sized.
      const tcpCode = error === AppError.ECONNREFUSED ? 'ECONNREFUSED' : error === AppError.ENETUNREACH ? 'ENETUNREACH'
        : error === AppError.EHOSTUNREACH ? 'EHOSTUNREACH' : null;
      if (tcpCode) this.tcp.networkError(this.now, icmp.quotedSrc, icmp.quotedSrcPort, icmp.quotedDst, icmp.quotedDstPort, tcpCode);
    } else if (icmp.quotedProtocol === IPPROTO_ICMP) {
      const identifier = readU16(b, icmp.quotedTransportOffset + 4);
      const seq = readU16(b, icmp.quotedTransportOffset + 6);
      const ping = this.pings.get(identifier);
      if (ping) this.emitEvent(ping.channel, AppEvent.PingError, ping.pingId, icmp.quotedDst, 0, seq, error);
    }
  }

  /** Sends an ICMP error about the datagram just parsed into `this.ip` (rate-limited; never about broadcasts). */
  private sendIcmpError(b: Uint8Array, type: number, code: number, now: number): void {
    const ip = this.ip;
    if (ip.dst === 0xffffffff || (!this.routes.isLocal(ip.dst) && !this.isUnicastOurs(ip.dst))) return;
    this.icmpTokens = Math.min(ICMP_ERROR_BURST, this.icmpTokens + (now - this.icmpTokensAt) * ICMP_ERROR_TOKENS_PER_MS);
    this.icmpTokensAt = now;
    if (this.icmpTokens < 1) {
      this.c.icmpRateLimited++;
      return;
    }
    this.icmpTokens--;
    const ipStart = ip.payloadOffset - ip.headerLength;
    const quoted = Math.min(ip.totalLength, ICMP_QUOTE_MAX);
    const dst = ip.src;
    const l4 = this.beginIp(dst, IPPROTO_ICMP, 8 + quoted, ip.dst, now);
    if (l4 < 0) return;
    emitIcmpError(this.out.bytes, l4, type, code, 0, b, ipStart, quoted);
    this.finishIp(ORIGIN_NONE, now);
    this.c.icmpErrorsOut++;
  }

  private isUnicastOurs(dst: number): boolean {
    for (const iface of this.interfaces.values()) if (iface.address === dst) return true;
    return false;
  }

  // ───────────────────────── UDP (RFC 768) ─────────────────────────

  private handleUdp(iface: Interface, b: Uint8Array, csumValid: boolean, now: number): void {
    const ip = this.ip;
    const udp = this.udp;
    const pseudo = csumValid ? -1 : pseudoHeaderSum(ip.src, ip.dst, IPPROTO_UDP, ip.payloadLength);
    const r = parseUdp(b, ip.payloadOffset, ip.payloadLength, udp, pseudo);
    if (r !== DropReason.Ok) return this.drop(r);
    this.c.udpIn++;
    const socket = this.findUdpSocket(ip.dst, udp.dstPort, ip.src, udp.srcPort);
    if (!socket) {
      this.c.udpNoPort++;
      if (ip.dst !== 0xffffffff && ip.dst !== iface.broadcast) {
        this.sendIcmpError(b, ICMP_DEST_UNREACHABLE, IcmpUnreachableCode.Port, now);
      }
      return;
    }
    const channel = socket.channel;
    const at = beginAppRecord(channel.events, udp.payloadLength, socket.id, ip.src, udp.srcPort, udp.dstPort, 0);
    if (at < 0) {
      this.c.udpReceiveBufferErrors++; // the application is not reading: the datagram is lost, as in a full SO_RCVBUF
      return;
    }
    channel.events.bytes.set(b.subarray(udp.payloadOffset, udp.payloadOffset + udp.payloadLength), at);
    commitAppRecord(channel.events, AppEvent.UdpDatagram, udp.payloadLength);
    channel.eventsPending = true;
    this.c.udpDelivered++;
  }

  private findUdpSocket(dst: number, dstPort: number, src: number, srcPort: number): UdpSocket | undefined {
    const list = this.udpByPort.get(dstPort);
    if (!list) return undefined;
    let fallback: UdpSocket | undefined;
    for (const s of list) {
      if (s.localAddress !== 0 && s.localAddress !== dst) continue;
      if (s.remoteAddress !== 0) {
        if (s.remoteAddress === src && s.remotePort === srcPort) return s; // a connected socket is the best match
        continue;
      }
      fallback ??= s;
    }
    return fallback;
  }

  private udpKey(channel: AppChannel, id: number): string {
    return `${channel.id}/${id}`;
  }

  private bindUdp(channel: AppChannel, id: number, address: number, port: number): void {
    if (address !== 0 && !this.isUnicastOurs(address) && !this.routes.isLocal(address)) {
      this.emitEvent(channel, AppEvent.UdpBound, id, address, port, 0, AppError.EADDRNOTAVAIL);
      return;
    }
    if (port === 0) port = this.pickEphemeralPort(address);
    const list = this.udpByPort.get(port) ?? [];
    if (port === 0 || list.some((s) => s.localAddress === 0 || address === 0 || s.localAddress === address)) {
      this.emitEvent(channel, AppEvent.UdpBound, id, address, port, 0, AppError.EADDRINUSE);
      return;
    }
    const socket: UdpSocket = { channel, id, localAddress: address, localPort: port, remoteAddress: 0, remotePort: 0 };
    list.push(socket);
    this.udpByPort.set(port, list);
    this.udpById.set(this.udpKey(channel, id), socket);
    this.emitEvent(channel, AppEvent.UdpBound, id, address, port, port, AppError.None);
  }

  private pickEphemeralPort(_address: number): number {
    const span = EPHEMERAL_LAST - EPHEMERAL_FIRST + 1;
    for (let i = 0; i < span; i++) {
      const port = this.nextEphemeral;
      this.nextEphemeral = port === EPHEMERAL_LAST ? EPHEMERAL_FIRST : port + 1;
      if (!this.udpByPort.get(port)?.length) return port;
    }
    return 0;
  }

  private closeUdp(socket: UdpSocket): void {
    this.udpById.delete(this.udpKey(socket.channel, socket.id));
    const list = this.udpByPort.get(socket.localPort);
    if (!list) return;
    const rest = list.filter((s) => s !== socket);
    if (rest.length) this.udpByPort.set(socket.localPort, rest);
    else this.udpByPort.delete(socket.localPort);
  }

  private sendUdp(channel: AppChannel, id: number, dst: number, dstPort: number, data: Uint8Array, dataOffset: number, dataLength: number, now: number): void {
    const socket = this.udpById.get(this.udpKey(channel, id));
    if (!socket) {
      this.emitEvent(channel, AppEvent.UdpError, id, dst, dstPort, 0, AppError.EINVAL);
      return;
    }
    if (dataLength > 65535 - IPV4_HEADER_BYTES - UDP_HEADER_BYTES) {
      this.emitEvent(channel, AppEvent.UdpError, id, dst, dstPort, 0, AppError.EMSGSIZE);
      return;
    }
    const origin = this.origin(ORIGIN_UDP, channel, id);
    const l4 = this.beginIp(dst, IPPROTO_UDP, UDP_HEADER_BYTES + dataLength, socket.localAddress, now);
    if (l4 < 0) {
      this.emitEvent(channel, AppEvent.UdpError, id, dst, dstPort, 0, this.out.error);
      return;
    }
    const length = UDP_HEADER_BYTES + dataLength;
    const out = this.out.bytes;
    // The checksum is summed while the payload is copied (one pass over the bytes).
    const sum = copyWithChecksum(data, dataOffset, out, l4 + UDP_HEADER_BYTES, dataLength, pseudoHeaderSum(this.out.src, dst, IPPROTO_UDP, length));
    emitUdpSummed(out, l4, socket.localPort, dstPort, dataLength, sum);
    this.finishIp(origin, now);
    this.c.udpOut++;
  }

  // ───────────────────────── IPv4 output ─────────────────────────

  /**
   * Starts an IP packet to `dst`: routes it, writes the Ethernet and IP headers, and returns the offset in
   * `this.out.bytes` where the `l4Length` bytes of transport header and payload go; -1 with `this.out.error` set
   * if it cannot be sent. The packet is built in place in the tx ring when its next hop is resolved and it fits
   * the MTU (or is a TCP super-segment the interface's device cuts: `superSegment`); otherwise in a scratch buffer
   * that `finishIp` fragments or queues for ARP.
   */
  private beginIp(dst: number, protocol: number, l4Length: number, src: number, now: number, dontFragment = false, superSegment = false): number {
    const out = this.out;
    out.error = 0;
    const route = this.route;
    let iface: Interface | undefined;
    if (dst === 0xffffffff) {
      for (const i of this.interfaces.values()) if (i.needsArp) { iface = i; break; }
      route.nextHop = dst;
    } else if (this.routes.lookup(dst, route)) {
      iface = this.interfaces.get(route.ifIndex);
    }
    if (!iface) {
      this.c.noRoute++;
      out.error = AppError.ENETUNREACH;
      return -1;
    }
    out.iface = iface;
    out.nextHop = route.nextHop;
    out.src = src !== 0 ? src : iface.loopback ? dst : iface.address; // to ourselves: from ourselves
    const ipLength = IPV4_HEADER_BYTES + l4Length;
    out.ipLength = ipLength;
    out.mac = !iface.needsArp ? 0 : dst === 0xffffffff || dst === iface.broadcast ? BROADCAST_MAC : this.arp.lookup(route.nextHop, now);
    out.direct = out.mac >= 0 && (ipLength <= iface.mtu || (superSegment && l4Length <= iface.superSegmentLimit));
    if (out.direct) {
      const off = iface.tx.reserve(ETHERNET_HEADER_BYTES + ipLength);
      if (off < 0) {
        this.c.txRingFull++;
        out.error = AppError.ENOBUFS;
        return -1;
      }
      out.bytes = iface.tx.bytes;
      out.frame = off;
    } else {
      out.bytes = this.scratch;
      out.frame = 0;
    }
    emitEthernet(out.bytes, out.frame, out.mac < 0 ? 0 : out.mac, iface.mac, ETHERTYPE_IPV4);
    this.ipId = (this.ipId + 1) & 0xffff;
    const ipFields = this.ipFields;
    ipFields.totalLength = ipLength;
    ipFields.id = this.ipId;
    ipFields.dontFragment = dontFragment;
    ipFields.moreFragments = false;
    ipFields.fragmentOffset = 0;
    ipFields.protocol = protocol;
    ipFields.src = out.src;
    ipFields.dst = dst;
    emitIpv4(out.bytes, out.frame + ETHERNET_HEADER_BYTES, ipFields);
    return out.frame + ETHERNET_HEADER_BYTES + IPV4_HEADER_BYTES;
  }

  private readonly ipFields = { tos: 0, totalLength: 0, id: 0, dontFragment: false, moreFragments: false, fragmentOffset: 0, ttl: IPV4_DEFAULT_TTL, protocol: 0, src: DOUBLE_ZERO, dst: DOUBLE_ZERO };

  /**
   * Sends the packet `beginIp` started: commits it in place, or fragments it, or queues it behind ARP. With
   * `gsoSize` > 0 it is a TCP super-segment (direct, checksum partial) that the device cuts into pieces of that text.
   */
  private finishIp(origin: number, now: number, partialChecksumField = 0, gsoSize = 0): void {
    const out = this.out;
    const iface = out.iface!;
    this.c.ipOut++;
    if (out.direct) {
      if (partialChecksumField > 0) {
        // The transport checksum is left for the device: start of the transport header, offset of its field.
        const start = ETHERNET_HEADER_BYTES + IPV4_HEADER_BYTES;
        const flags = gsoSize > 0 ? FRAME_CSUM_PARTIAL | FRAME_GSO_TCPV4 : FRAME_CSUM_PARTIAL;
        iface.tx.commit(ETHERNET_HEADER_BYTES + out.ipLength, flags, iface.index, gsoSize, start, partialChecksumField);
      } else {
        iface.tx.commit(ETHERNET_HEADER_BYTES + out.ipLength, 0, iface.index);
      }
      iface.txPending = true;
      return;
    }
    const packet = this.scratch.subarray(ETHERNET_HEADER_BYTES, ETHERNET_HEADER_BYTES + out.ipLength);
    if (out.mac < 0) {
      // Unresolved next hop: keep a copy until ARP answers (RFC 1122 §2.3.2.2), then it goes out through transmitIpPacket.
      if (this.arp.enqueue(iface.index, out.nextHop, { packet: packet.slice(), origin }, now)) {
        this.sendArp(iface, ARP_OP_REQUEST, 0, out.nextHop, now);
      }
      return;
    }
    this.transmitIpPacket(iface, out.mac, packet, 0, packet.length);
  }

  /** Puts an IP packet on the wire behind an Ethernet header, fragmenting it to the MTU (RFC 791 §3.2). */
  private transmitIpPacket(iface: Interface, mac: number, packet: Uint8Array, off: number, length: number): void {
    const tx = iface.tx;
    if (length <= iface.mtu) {
      const at = tx.reserve(ETHERNET_HEADER_BYTES + length);
      if (at < 0) {
        this.c.txRingFull++;
        return;
      }
      emitEthernet(tx.bytes, at, mac, iface.mac, ETHERTYPE_IPV4);
      tx.bytes.set(packet.subarray(off, off + length), at + ETHERNET_HEADER_BYTES);
      tx.commit(ETHERNET_HEADER_BYTES + length, 0, iface.index);
      iface.txPending = true;
      return;
    }
    if ((packet[off + 6] & 0x40) !== 0) {
      this.c.txRingFull++; // DF set and too big: the sender should have known the MTU
      return;
    }
    const headerLength = (packet[off] & 0x0f) << 2;
    const payloadLength = length - headerLength;
    const chunk = (iface.mtu - IPV4_HEADER_BYTES) & ~7;
    const f = this.ipFields;
    f.id = readU16(packet, off + 4);
    f.ttl = packet[off + 8];
    f.protocol = packet[off + 9];
    f.src = (packet[off + 12] << 24 | packet[off + 13] << 16 | packet[off + 14] << 8 | packet[off + 15]) >>> 0;
    f.dst = (packet[off + 16] << 24 | packet[off + 17] << 16 | packet[off + 18] << 8 | packet[off + 19]) >>> 0;
    f.dontFragment = false;
    for (let start = 0; start < payloadLength; start += chunk) {
      const size = Math.min(chunk, payloadLength - start);
      const at = tx.reserve(ETHERNET_HEADER_BYTES + IPV4_HEADER_BYTES + size);
      if (at < 0) {
        this.c.txRingFull++;
        return;
      }
      emitEthernet(tx.bytes, at, mac, iface.mac, ETHERTYPE_IPV4);
      f.totalLength = IPV4_HEADER_BYTES + size;
      f.fragmentOffset = start;
      f.moreFragments = start + size < payloadLength;
      emitIpv4(tx.bytes, at + ETHERNET_HEADER_BYTES, f);
      const from = off + headerLength + start;
      tx.bytes.set(packet.subarray(from, from + size), at + ETHERNET_HEADER_BYTES + IPV4_HEADER_BYTES);
      tx.commit(ETHERNET_HEADER_BYTES + IPV4_HEADER_BYTES + size, 0, iface.index);
      this.c.fragmentsOut++;
    }
    iface.txPending = true;
  }

  // ───────────────────────── application channels ─────────────────────────

  private origin(kind: number, channel: AppChannel, id: number): number {
    // kind (< 4) · 2^48 + channel (< 2^16) · 2^32 + id (< 2^32): exact in a double (< 2^53).
    return kind * 2 ** 48 + (channel.id % 2 ** 16) * 2 ** 32 + id;
  }

  private reportOriginError(origin: number, error: number, packet: Uint8Array): void {
    const kind = Math.floor(origin / 2 ** 48);
    const channel = this.channels.get(Math.floor(origin / 2 ** 32) % 2 ** 16);
    const id = origin % 2 ** 32;
    if (!channel) return;
    const dst = (packet[16] << 24 | packet[17] << 16 | packet[18] << 8 | packet[19]) >>> 0;
    if (kind === ORIGIN_UDP) this.emitEvent(channel, AppEvent.UdpError, id, dst, 0, 0, error);
    else if (kind === ORIGIN_PING) this.emitEvent(channel, AppEvent.PingError, id, dst, 0, readU16(packet, 26), error);
  }

  private emitEvent(channel: AppChannel, op: number, id: number, address: number, port: number, extra: number, value: number): void {
    if (pushAppRecord(channel.events, op, id, address, port, extra, value)) channel.eventsPending = true;
    else this.c.eventRingFull++;
  }

  // ───────────────────────── SocketLayerHost (TCP) ─────────────────────────

  emit(channel: AppChannel, op: number, id: number, address: number, port: number, extra: number, value: number, data?: Uint8Array): void {
    if (!data) return this.emitEvent(channel, op, id, address, port, extra, value);
    const at = beginAppRecord(channel.events, data.length, id, address, port, extra, value);
    if (at < 0) {
      this.c.eventRingFull++;
      return;
    }
    channel.events.bytes.set(data, at);
    commitAppRecord(channel.events, op, data.length);
    channel.eventsPending = true;
  }

  routeTo(dst: number): { source: number; mtu: number } | null {
    if (!this.routes.lookup(dst, this.route)) return null;
    const iface = this.interfaces.get(this.route.ifIndex);
    if (!iface) return null;
    const source = iface.loopback ? dst : iface.address; // through loopback we talk to ourselves, from ourselves
    return { source, mtu: iface.mtu };
  }

  /** Frames start at record + 18 and records are 8-aligned; an IPv4 header without options follows Ethernet's. */
  tcpTextPhase(headerLength: number): number {
    return (RECORD_HEADER_BYTES + ETHERNET_HEADER_BYTES + IPV4_HEADER_BYTES + headerLength) & 7;
  }

  /** TcpOutput.superSegmentLimit: the route's interface takes super-segments of up to this TCP length, or 0. */
  tcpSuperSegmentLimit(dst: number): number {
    if (!this.routes.lookup(dst, this.route)) return 0;
    return this.interfaces.get(this.route.ifIndex)?.superSegmentLimit ?? 0;
  }

  /** Builds one TCP segment: headers in place, payload copied from the send ring with the checksum summed on the way. */
  sendTcpSegment(seg: TcpSegmentOut): boolean {
    if (seg.gsoSize > 0 && seg.payloadLength > seg.gsoSize) return this.sendTcpSuperSegment(seg);
    const headerLength = TCP_HEADER_BYTES + tcpOptionsLength(seg);
    const length = headerLength + seg.payloadLength;
    const l4 = this.beginIp(seg.dstAddr, IPPROTO_TCP, length, seg.srcAddr, this.now, true);
    if (l4 < 0) return this.out.error !== AppError.ENOBUFS; // no route: the segment is lost, as on a wire; full: retry
    const out = this.out.bytes;
    emitTcpHeader(out, l4, seg);
    let sum = pseudoHeaderSum(seg.srcAddr, seg.dstAddr, IPPROTO_TCP, length);
    const ring = seg.payloadRing;
    if (this.out.direct && this.out.iface!.txChecksumOffload) {
      // Checksum offload (virtio's NEEDS_CSUM): a plain copy, the seed in the field, the device sums it if it must.
      this.copyTcpPayload(seg, out, l4 + headerLength);
      writeU16(out, l4 + TCP_CHECKSUM_OFFSET, partialChecksumSeed(sum));
      this.finishIp(ORIGIN_NONE, this.now, TCP_CHECKSUM_OFFSET);
      return true;
    }
    if (ring && seg.payloadLength > 0) {
      const spans = this.spans;
      const n = ring.spans(seg.payloadFromHead, seg.payloadLength, spans);
      let at = l4 + headerLength;
      sum = copyWithChecksum(ring.bytes, spans[0], out, at, spans[1], sum);
      if (n === 2) {
        at += spans[1];
        // A second span that starts at an odd offset of the payload is summed on its own and byte-swapped.
        sum = (spans[1] & 1) === 0
          ? copyWithChecksum(ring.bytes, spans[2], out, at, spans[3], sum)
          : sum + checksumSwapBytes(copyWithChecksum(ring.bytes, spans[2], out, at, spans[3], 0));
      }
    }
    finishTcpChecksumSummed(out, l4, headerLength, sum);
    this.finishIp(ORIGIN_NONE, this.now);
    return true;
  }

  /** Copies a segment's text from the send ring to `at` in `out` (no checksum: the device finishes it). */
  private copyTcpPayload(seg: TcpSegmentOut, out: Uint8Array, at: number): void {
    const ring = seg.payloadRing;
    if (!ring || seg.payloadLength === 0) return;
    const spans = this.spans;
    const n = ring.spans(seg.payloadFromHead, seg.payloadLength, spans);
    copyBytes(out, at, ring.bytes, spans[0], spans[1]);
    if (n === 2) copyBytes(out, at + spans[1], ring.bytes, spans[2], spans[3]);
  }

  /**
   * A TCP super-segment (TSO): one frame of up to 64 KiB with FRAME_GSO_TCPV4 | FRAME_CSUM_PARTIAL; the device
   * (virtio_net_hdr GSO_TCPV4, or the peer stack on the memory wire, which takes it whole as Linux's GRO would)
   * cuts it into pieces of `gsoSize` text with this header, FIN and PSH only on the last, IP ids counting up. The
   * checksum field holds the pseudo-header seed over the whole TCP length, as Linux's tcp_gso_segment expects.
   * Where the route's device cannot cut it now (TSO gone with a re-attached interface, or the next hop awaiting
   * ARP), it is cut here into ordinary segments: software GSO.
   */
  private sendTcpSuperSegment(seg: TcpSegmentOut): boolean {
    const headerLength = TCP_HEADER_BYTES + tcpOptionsLength(seg);
    const length = headerLength + seg.payloadLength;
    const l4 = this.beginIp(seg.dstAddr, IPPROTO_TCP, length, seg.srcAddr, this.now, true, true);
    if (l4 < 0) return this.out.error !== AppError.ENOBUFS;
    if (!this.out.direct) return this.sendTcpPieces(seg, headerLength);
    const out = this.out.bytes;
    emitTcpHeader(out, l4, seg);
    this.copyTcpPayload(seg, out, l4 + headerLength);
    writeU16(out, l4 + TCP_CHECKSUM_OFFSET, partialChecksumSeed(pseudoHeaderSum(seg.srcAddr, seg.dstAddr, IPPROTO_TCP, length)));
    const pieces = Math.ceil(seg.payloadLength / seg.gsoSize);
    // The device gives the pieces ids ipId, ipId + 1, …: the next packet of ours takes the id after the last.
    this.ipId = (this.ipId + pieces - 1) & 0xffff;
    this.finishIp(ORIGIN_NONE, this.now, TCP_CHECKSUM_OFFSET, seg.gsoSize);
    this.c.tcpSuperSegmentsOut++;
    this.c.tcpSuperSegmentPieces += pieces;
    return true;
  }

  /** Software GSO: the super-segment `seg` as ordinary segments of `gsoSize` text, all of them or (no room) none. */
  private sendTcpPieces(seg: TcpSegmentOut, headerLength: number): boolean {
    const size = seg.gsoSize;
    const total = seg.payloadLength;
    const pieces = Math.ceil(total / size);
    const frameBytes = ETHERNET_HEADER_BYTES + IPV4_HEADER_BYTES + headerLength + size;
    if (this.out.mac >= 0 && this.out.iface!.tx.writableBytes() < pieces * (RECORD_HEADER_BYTES + frameBytes + 8)) {
      this.c.txRingFull++;
      return false; // the engine retries the whole super-segment when the ring drained
    }
    const { seq, flags, payloadFromHead } = seg;
    seg.gsoSize = 0;
    for (let done = 0; done < total; done += size) {
      const n = Math.min(size, total - done);
      seg.seq = (seq + done) >>> 0;
      seg.payloadFromHead = payloadFromHead + done;
      seg.payloadLength = n;
      seg.flags = done + n === total ? flags : flags & ~(TCP_FIN | TCP_PSH);
      // Room was checked: a piece refused after all is lost as on a wire, and loss recovery resends it.
      this.sendTcpSegment(seg);
    }
    seg.seq = seq;
    seg.flags = flags;
    seg.payloadFromHead = payloadFromHead;
    seg.payloadLength = total;
    seg.gsoSize = size;
    this.c.tcpSuperSegmentsCutHere++;
    return true;
  }

  private commandBatch(channel: AppChannel, now: number): number {
    const commands = channel.commands;
    const rec = this.record;
    let n = 0;
    while (n < STAGE_BATCH && this.outputHasRoom() && channel.events.writableBytes() >= OUTPUT_HEADROOM_BYTES / 4) {
      if (!readAppRecord(commands, rec)) break;
      this.c.commands++;
      switch (rec.op) {
        case AppCommand.UdpBind:
          this.bindUdp(channel, rec.id, rec.address, rec.port);
          break;
        case AppCommand.UdpSend:
          this.sendUdp(channel, rec.id, rec.address, rec.port, commands.bytes, rec.dataOffset, rec.dataLength, now);
          break;
        case AppCommand.UdpConnect: {
          const s = this.udpById.get(this.udpKey(channel, rec.id));
          if (s) {
            s.remoteAddress = rec.address;
            s.remotePort = rec.port;
          }
          break;
        }
        case AppCommand.UdpClose: {
          const s = this.udpById.get(this.udpKey(channel, rec.id));
          if (s) this.closeUdp(s);
          break;
        }
        case AppCommand.Ping:
          this.sendPing(channel, rec.id, rec.address, rec.extra, rec.value, now);
          break;
        default:
          if (rec.op >= AppCommand.TcpConnect && rec.op <= AppCommand.TcpClose) this.tcp.command(channel, rec, now, commands.bytes);
          else this.c.unknownCommands++;
      }
      commands.next();
      n++;
    }
    if (n > 0) commands.release();
    return n;
  }

  private sendPing(channel: AppChannel, pingId: number, dst: number, seq: number, size: number, now: number): void {
    const identifier = this.nextPingIdentifier;
    this.nextPingIdentifier = identifier === 0xffff ? 1 : identifier + 1;
    this.pings.set(identifier, { channel, pingId });
    if (this.pings.size > 4096) this.pings.delete(this.pings.keys().next().value!);
    const dataLength = Math.max(0, Math.min(size, 65507));
    const l4 = this.beginIp(dst, IPPROTO_ICMP, 8 + dataLength, 0, now);
    if (l4 < 0) {
      this.emitEvent(channel, AppEvent.PingError, pingId, dst, 0, seq, this.out.error);
      return;
    }
    const out = this.out.bytes;
    for (let i = 0; i < dataLength; i++) out[l4 + 8 + i] = i & 0xff;
    emitIcmpEcho(out, l4, ICMP_ECHO_REQUEST, identifier, seq, out, l4 + 8, dataLength);
    this.finishIp(this.origin(ORIGIN_PING, channel, pingId), now);
  }

  private publish(): void {
    for (const iface of this.interfaces.values()) {
      if (iface.txPending) {
        iface.tx.publish();
        iface.txPending = false;
      }
    }
    for (const channel of this.channels.values()) {
      if (channel.eventsPending) {
        channel.events.publish();
        channel.eventsPending = false;
      }
    }
  }

  counters(): StageCounters {
    const out: StageCounters = {
      ...this.c, ...this.tcp.counters(), tcpSegmentsJoined: this.coalescer.joinedSegments, arpEntries: this.arp.size(),
      reassemblyInProgress: this.reassembler.inProgress(),
    };
    for (const [k, v] of Object.entries(this.arp.counters)) out[`arp${k[0].toUpperCase()}${k.slice(1)}`] = v;
    for (const [k, v] of Object.entries(this.reassembler.counters)) out[`reassembly${k[0].toUpperCase()}${k.slice(1)}`] = v;
    for (let i = 1; i < this.drops.length; i++) if (this.drops[i]) out[`drop${dropReasonName(i)}`] = this.drops[i];
    return out;
  }

  close(): void {
    this.interfaces.clear();
    this.channels.clear();
  }
}
