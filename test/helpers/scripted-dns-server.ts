// A scripted DNS server for tests, on a ringstack stack: UDP and TCP (length-prefixed) on one port. Each query is
// handed to a script that answers, truncates, fails, lies (wrong ID or question), sends garbage, or stays silent.
// Responses are built by `buildDnsResponse`, written independently of the resolver's codec so each checks the other.
import type { Stack, TcpServer, TcpSocket, UdpSocket } from '../../src/main/index.js';

export interface TestRecord {
  readonly name: string;
  /** 'A' (data: a dotted quad) or 'CNAME' (data: a name). */
  readonly type: 'A' | 'CNAME';
  readonly data: string;
  readonly ttl?: number;
}

export interface TestResponse {
  readonly id: number;
  /** The question as it is echoed (default: the one asked). */
  readonly question: { name: string; type?: number; class?: number };
  readonly rcode?: number;
  readonly truncated?: boolean;
  readonly answers?: readonly TestRecord[];
  /** Write each owner name as a pointer to the question's name when they are equal (RFC 1035 §4.1.4). */
  readonly compress?: boolean;
}

function nameBytes(name: string): number[] {
  const out: number[] = [];
  for (const label of name.replace(/\.$/, '').split('.')) {
    out.push(label.length, ...Buffer.from(label, 'latin1'));
  }
  out.push(0);
  return out;
}

export function buildDnsResponse(r: TestResponse): Buffer {
  const answers = r.answers ?? [];
  const out: number[] = [
    r.id >> 8, r.id & 0xff,
    0x81 | (r.truncated ? 0x02 : 0), 0x80 | (r.rcode ?? 0),
    0, 1, answers.length >> 8, answers.length & 0xff, 0, 0, 0, 0,
  ];
  const qname = r.question.name.toLowerCase().replace(/\.$/, '');
  out.push(...nameBytes(r.question.name), 0, r.question.type ?? 1, 0, r.question.class ?? 1);
  // Where each name already written starts, for compression.
  const written = new Map<string, number>([[qname, 12]]);
  const name = (n: string): number[] => {
    const at = written.get(n.toLowerCase().replace(/\.$/, ''));
    if (r.compress && at !== undefined) return [0xc0 | (at >> 8), at & 0xff];
    return nameBytes(n);
  };
  for (const a of answers) {
    const owner = name(a.name);
    out.push(...owner);
    const ttl = a.ttl ?? 300;
    out.push(0, a.type === 'A' ? 1 : 5, 0, 1, (ttl >>> 24) & 0xff, (ttl >>> 16) & 0xff, (ttl >>> 8) & 0xff, ttl & 0xff);
    if (a.type === 'A') {
      out.push(0, 4, ...a.data.split('.').map(Number));
    } else {
      const dataAt = out.length + 2;
      const target = name(a.data);
      out.push(target.length >> 8, target.length & 0xff, ...target);
      if (!written.has(a.data.toLowerCase())) written.set(a.data.toLowerCase(), dataAt);
    }
  }
  return Buffer.from(out);
}

/** The query as the server saw it. */
export interface ReceivedQuery {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly transport: 'udp' | 'tcp';
  readonly bytes: Buffer;
  /** The client's address and port. */
  readonly from: { readonly address: string; readonly port: number };
}

/** What to send back: datagrams/messages in order (none: silence). */
export type DnsScript = (query: ReceivedQuery) => Buffer[] | Promise<Buffer[]>;

function readQuery(bytes: Buffer, transport: 'udp' | 'tcp', from: { address: string; port: number }): ReceivedQuery {
  const labels: string[] = [];
  let at = 12;
  while (bytes[at] !== 0) {
    labels.push(bytes.subarray(at + 1, at + 1 + bytes[at]).toString('latin1'));
    at += 1 + bytes[at];
  }
  return { id: bytes.readUInt16BE(0), name: labels.join('.'), type: bytes.readUInt16BE(at + 1), transport, bytes, from: { address: from.address, port: from.port } };
}

/** The usual answer: one A record for the name asked. */
export function answerA(query: ReceivedQuery, address: string, ttl = 300): Buffer {
  return buildDnsResponse({ id: query.id, question: { name: query.name }, answers: [{ name: query.name, type: 'A', data: address, ttl }] });
}

export class ScriptedDnsServer {
  readonly queries: ReceivedQuery[] = [];
  private readonly tcpSockets = new Set<TcpSocket>();

  private constructor(private readonly udp: UdpSocket, private readonly tcp: TcpServer, public script: DnsScript) {}

  /** Listens on `port` of `stack` (UDP and TCP). */
  static async start(stack: Stack, port: number, script: DnsScript): Promise<ScriptedDnsServer> {
    const udp = stack.udp.bind(port);
    await new Promise<void>((resolve, reject) => {
      udp.once('listening', resolve);
      udp.once('error', reject);
    });
    const tcp = stack.createServer();
    const server = new ScriptedDnsServer(udp, tcp, script);
    udp.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
      const query = readQuery(msg, 'udp', rinfo);
      server.queries.push(query);
      void Promise.resolve(server.script(query)).then((replies) => {
        for (const reply of replies) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    tcp.on('connection', (socket: TcpSocket) => server.serveTcp(socket));
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen(port, () => resolve());
    });
    return server;
  }

  private serveTcp(socket: TcpSocket): void {
    this.tcpSockets.add(socket);
    socket.on('close', () => this.tcpSockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      const query = readQuery(buffered.subarray(2, 2 + buffered.readUInt16BE(0)), 'tcp', { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 });
      buffered = Buffer.alloc(0);
      this.queries.push(query);
      void Promise.resolve(this.script(query)).then((replies) => {
        for (const reply of replies) {
          const prefix = Buffer.alloc(2);
          prefix.writeUInt16BE(reply.length);
          socket.write(Buffer.concat([prefix, reply]));
        }
      });
    });
  }

  close(): void {
    this.udp.close();
    this.tcp.close();
    for (const s of this.tcpSockets) s.destroy();
  }
}
