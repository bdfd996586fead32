// A tiny reader for classic libpcap files (what `tcpdump -w` writes), for fixtures in tests. Not pcapng.
// Format: 24-byte global header (magic a1b2c3d4 µs or a1b23c4d ns, in the writer's byte order), then per packet a
// 16-byte record header (ts_sec, ts_frac, captured length, original length) and the captured bytes.

export interface PcapPacket {
  /** Seconds since the epoch, fractional. */
  time: number;
  /** The captured bytes: a view into the file buffer. */
  data: Uint8Array;
  originalLength: number;
}

export interface PcapFile {
  /** 1 = Ethernet. */
  linkType: number;
  packets: PcapPacket[];
}

export function readPcap(file: Uint8Array): PcapFile {
  if (file.length < 24) throw new Error(`pcap: ${file.length} bytes is shorter than the global header`);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const magicLE = view.getUint32(0, true);
  let little: boolean;

  if (magicLE === 0xa1b2c3d4 || magicLE === 0xa1b23c4d) little = true;
  else if (view.getUint32(0, false) === 0xa1b2c3d4 || view.getUint32(0, false) === 0xa1b23c4d) little = false;
  else throw new Error(`pcap: bad magic 0x${magicLE.toString(16)} (pcapng is not supported)`);
  const fracScale = view.getUint32(0, little) === 0xa1b23c4d ? 1e-9 : 1e-6;
  const linkType = view.getUint32(20, little);
  const packets: PcapPacket[] = [];
  let off = 24;
  while (off < file.length) {
    if (off + 16 > file.length) throw new Error(`pcap: record header at ${off} cut short`);
    const seconds = view.getUint32(off, little);
    const fraction = view.getUint32(off + 4, little);
    const capturedLength = view.getUint32(off + 8, little);
    const originalLength = view.getUint32(off + 12, little);
    off += 16;
    if (off + capturedLength > file.length) throw new Error(`pcap: packet at ${off} runs past the end of the file`);
    packets.push({ time: seconds + fraction * fracScale, data: file.subarray(off, off + capturedLength), originalLength });
    off += capturedLength;
  }
  return { linkType, packets };
}
