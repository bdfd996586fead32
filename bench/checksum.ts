// ns per 1460-byte packet for the Internet checksum, the way src/wire does it (32-bit words summed as doubles,
// folded once) against a DataView 16-bit loop as the reference, and for the fused copy + checksum against a
// TypedArray.set followed by a separate checksum (which allocates a subarray per packet; the fused copy does not).
// Buffers are SharedArrayBuffers, as the rings are.
// Run: npx tsx bench/checksum.ts [packets-per-run]
import { checksumAdd, checksumFold, copyWithChecksum } from '../src/wire/index.js';

const PAYLOAD = 1460;
const SLOTS = 256; // spread over 256 × 2 KiB so the data is in L2 but not one hot line
const packets = Number(process.argv[2] ?? 400_000);

const src = new Uint8Array(new SharedArrayBuffer(SLOTS * 2048));
const dst = new Uint8Array(new SharedArrayBuffer(SLOTS * 2048));
for (let i = 0; i < src.length; i++) src[i] = (i * 2654435761) >>> 24;
const srcView = new DataView(src.buffer);

function dataView16(offset: number, len: number): number {
  let sum = 0;
  let i = offset;
  const end = offset + len;
  for (; i + 1 < end; i += 2) sum += srcView.getUint16(i);
  if (i < end) sum += src[i] << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

type Case = { name: string; run: (slot: number) => number };
const at = (slot: number, misalign: number): number => slot * 2048 + misalign;
const cases: Case[] = [
  { name: 'DataView 16-bit loop (reference)', run: (s) => dataView16(at(s, 0), PAYLOAD) },
  { name: 'checksumAdd, 4-aligned', run: (s) => checksumFold(checksumAdd(src, at(s, 0), PAYLOAD, 0)) },
  { name: 'checksumAdd, offset 1 mod 4', run: (s) => checksumFold(checksumAdd(src, at(s, 1), PAYLOAD, 0)) },
  { name: 'set + checksumAdd, same alignment', run: (s) => { dst.set(src.subarray(at(s, 0), at(s, 0) + PAYLOAD), at(s, 0)); return checksumFold(checksumAdd(dst, at(s, 0), PAYLOAD, 0)); } },
  { name: 'set + checksumAdd, src 2 mod 4 vs dst 0', run: (s) => { dst.set(src.subarray(at(s, 2), at(s, 2) + PAYLOAD), at(s, 0)); return checksumFold(checksumAdd(dst, at(s, 0), PAYLOAD, 0)); } },
  { name: 'copyWithChecksum, same alignment', run: (s) => checksumFold(copyWithChecksum(src, at(s, 0), dst, at(s, 0), PAYLOAD, 0)) },
  { name: 'copyWithChecksum, src 2 mod 4 vs dst 0', run: (s) => checksumFold(copyWithChecksum(src, at(s, 2), dst, at(s, 0), PAYLOAD, 0)) },
];

function measure(c: Case): number {
  let sink = 0;
  const start = process.hrtime.bigint();
  for (let p = 0; p < packets; p++) sink ^= c.run(p & (SLOTS - 1));
  const ns = Number(process.hrtime.bigint() - start) / packets;
  if (sink === -1) console.log('unreachable');
  return ns;
}

// The reference and the fast path must agree before timing means anything.
for (let s = 0; s < SLOTS; s++) {
  if (cases[0].run(s) !== cases[1].run(s)) throw new Error(`checksum mismatch in slot ${s}`);
}
for (const c of cases) measure(c); // warm up every case so the JIT has compiled it
console.log(`${PAYLOAD} B per packet, ${packets} packets per run, median (min) of 5 runs (node ${process.version})`);
for (const c of cases) {
  const runs = Array.from({ length: 5 }, () => measure(c)).sort((a, b) => a - b);
  console.log(`${c.name.padEnd(42)} ${runs[2].toFixed(0).padStart(5)} (${runs[0].toFixed(0).padStart(5)}) ns/packet   ${(PAYLOAD / runs[2]).toFixed(2)} GB/s`);
}
