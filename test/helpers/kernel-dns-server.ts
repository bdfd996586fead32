// A DNS server on the kernel's sockets, run as its own process inside a namespace of the bed:
//   node --import tsx kernel-dns-server.ts PORT '{"name": "A.B.C.D", ...}' '["name answered truncated over UDP"]'
// Known names get their A record (over UDP, or over TCP after a truncated UDP answer for the listed ones); others
// get NXDOMAIN. Prints "ready" on stdout once UDP and TCP listen, then "query NAME udp|tcp" per query; runs until
// killed.
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { buildDnsResponse } from './scripted-dns-server.js';

const port = Number(process.argv[2]);
const names = JSON.parse(process.argv[3] ?? '{}') as Record<string, string>;
const truncateOverUdp = new Set(JSON.parse(process.argv[4] ?? '[]') as string[]);

function questionName(query: Buffer): string {
  const labels: string[] = [];
  let at = 12;
  while (at < query.length && query[at] !== 0) {
    labels.push(query.subarray(at + 1, at + 1 + query[at]).toString('latin1'));
    at += 1 + query[at];
  }
  return labels.join('.');
}

function answer(query: Buffer, overUdp: boolean): Buffer {
  const name = questionName(query);
  process.stdout.write(`query ${name} ${overUdp ? 'udp' : 'tcp'}\n`);
  const id = query.readUInt16BE(0);
  const address = names[name.toLowerCase()];
  if (address === undefined) return buildDnsResponse({ id, question: { name }, rcode: 3 });
  if (overUdp && truncateOverUdp.has(name.toLowerCase())) return buildDnsResponse({ id, question: { name }, truncated: true });
  return buildDnsResponse({ id, question: { name }, compress: true, answers: [{ name, type: 'A', data: address, ttl: 60 }] });
}

const udp = createSocket('udp4');
udp.on('message', (msg, rinfo) => {
  if (msg.length >= 12) udp.send(answer(msg, true), rinfo.port, rinfo.address);
});
const tcp = createServer((socket) => {
  let buffered = Buffer.alloc(0);
  socket.on('error', () => undefined);
  socket.on('data', (chunk: Buffer) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= 2 && buffered.length >= 2 + buffered.readUInt16BE(0)) {
      const reply = answer(buffered.subarray(2, 2 + buffered.readUInt16BE(0)), false);
      buffered = buffered.subarray(2 + buffered.readUInt16BE(0));
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(reply.length);
      socket.write(Buffer.concat([prefix, reply]));
    }
  });
});
let listening = 0;
const ready = (): void => {
  if (++listening === 2) process.stdout.write('ready\n');
};
udp.bind(port, '0.0.0.0', ready);
tcp.listen(port, '0.0.0.0', ready);
