// src/wire: pure codecs. Per protocol: constants, a representation object the caller allocates once
// (`createXRepr()`) and reuses, `parseX(bytes, offset, length, out, …)` returning 0 or a DropReason, and `emitX`
// writing into a buffer the caller owns. No I/O, no clocks, no state, no allocation per packet.
export * from './drop-reason.js';
export * from './bytes.js';
export * from './double-field.js';
export * from './checksum.js';
export * from './address.js';
export * from './ethernet.js';
export * from './arp.js';
export * from './ipv4.js';
export * from './icmp.js';
export * from './udp.js';
export * from './tcp.js';
