import { ByteRing } from '../shared-ring/index.js';
import { AppCommand } from '../workers/app-protocol.js';
import type { AppChannelClient } from './app-channel.js';

/**
 * Each ring's size: Linux's tcp_wmem maximum, under its tcp_rmem maximum. Receive auto-tuning offers a window of
 * twice what the application read per RTT, up to this (rcv.ts), so a connection that moves little offers little;
 * pages of a SharedArrayBuffer are only committed once written, so an idle slot costs address space, not memory.
 * Measured (single layout, one stream over the memory wire, MTU 1500 / 9000 / 65535): 256 KiB 1.7–2.1 / 2.3–2.7 /
 * 2.7–2.9 Gbit/s, 1 MiB 2.2–2.5 / 3.4–3.8 / 4.0–4.2, 4 MiB 1.8–2.9 / 4.8 / 5.9–6.5, 8 MiB 2.4–2.8 / 4.3–5.2 /
 * 6.1–7.2 (docs/PERFORMANCE.md).
 */
export const DEFAULT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;
/**
 * Slots registered per batch: the first batch is small and each doubles the pool up to GROW_BY. Every ring is a
 * SharedArrayBuffer that V8 counts as external memory, so 64 of them at a client's first connect cost 7 ms to map
 * and ~10 ms of garbage collections that the memory pressure set off (a 1 GiB `get`, docs/PERFORMANCE.md).
 */
const FIRST_GROW = 4;
const GROW_BY = 32;
/**
 * Slots lent to the protocol stage for connections it accepts, while any server listens. A handshake that finds
 * none is deferred until the SYN-ACK is retransmitted (1 s): 64 covers a client opening 64 at once (bench/tcp.ts;
 * with 16, 1 000 such connections over workers ran at ~1 100/s with 112 retransmissions, with 64 at ~2 000/s).
 */
const ACCEPT_RESERVE = 64;

/**
 * The TCP socket buffers of one application channel: slots of two byte rings (send, receive) in
 * SharedArrayBuffers, registered with the protocol stage in batches through the control plane, so opening a
 * connection costs no round trip. A slot is free (ours), lent (the stage may use it for an accepted connection), or
 * in use by one socket until the stage says the connection is closed.
 */
export class SocketSlotPool {
  private readonly send: ByteRing[] = [];
  private readonly receive: ByteRing[] = [];
  private readonly free: number[] = [];
  private lent = 0;
  private growing: Promise<void> | null = null;
  private listeners = 0;

  constructor(
    private readonly channel: AppChannelClient,
    private readonly register: (firstSlot: number, buffers: [SharedArrayBuffer, SharedArrayBuffer][]) => Promise<void>,
    readonly bufferBytes = DEFAULT_SOCKET_BUFFER_BYTES,
  ) {}

  rings(slot: number): { send: ByteRing; receive: ByteRing } {
    return { send: this.send[slot], receive: this.receive[slot] };
  }

  /** A free slot, registering more with the stage when none is left. */
  async acquire(): Promise<number> {
    while (this.free.length === 0) await this.grow();
    return this.free.pop()!;
  }

  private grow(): Promise<void> {
    this.growing ??= (async () => {
      const first = this.send.length;
      const count = Math.min(GROW_BY, Math.max(FIRST_GROW, first));
      const buffers: [SharedArrayBuffer, SharedArrayBuffer][] = [];
      for (let i = 0; i < count; i++) {
        const s = ByteRing.create(this.bufferBytes);
        const r = ByteRing.create(this.bufferBytes);
        this.send.push(s);
        this.receive.push(r);
        buffers.push([s.buffer as SharedArrayBuffer, r.buffer as SharedArrayBuffer]);
      }
      await this.register(first, buffers);
      for (let i = count - 1; i >= 0; i--) this.free.push(first + i);
    })().finally(() => {
      this.growing = null;
    });
    return this.growing;
  }

  /** The stage closed the connection in `slot`: it touches its rings no more. Empties them for the next user. */
  release(slot: number): void {
    const r = this.receive[slot];
    r.setDirectReader(null);
    r.advanceHead(r.readableBytes()); // unread bytes of a connection nobody reads any more
    this.free.push(slot);
    this.topUpReserve();
  }

  /** A lent slot now carries an accepted connection. */
  takeLent(): void {
    this.lent--;
    this.topUpReserve();
  }

  listenerAdded(): void {
    this.listeners++;
    this.topUpReserve();
  }

  listenerRemoved(): void {
    this.listeners--;
  }

  /** Keeps ACCEPT_RESERVE slots lent to the stage while a server listens, so accepts never wait for us. */
  private topUpReserve(): void {
    if (this.listeners <= 0 || this.channel.closed) return; // a stack closing while the pool grew: nobody to lend to
    while (this.lent < ACCEPT_RESERVE && this.free.length > 0) {
      const slot = this.free.pop()!;
      this.lent++;
      this.channel.sendRecord(AppCommand.TcpProvideSlot, slot, 0, 0, 0, 0);
    }
    // A failed registration (the stack closed under it) only ends the lending; acquire() reports its own failures.
    if (this.lent < ACCEPT_RESERVE && !this.growing) this.grow().then(() => this.topUpReserve(), () => undefined);
  }
}
