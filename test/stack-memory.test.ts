import { afterEach, describe, expect, it } from 'vitest';
import { createMemoryWire, createStack, type Stack, type StackLayout, type UdpSocket } from '../src/main/index.js';

const open: Stack[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function pair(layout: StackLayout, wire: Parameters<typeof createMemoryWire>[0] = {}): Promise<[Stack, Stack]> {
  const [a, b] = createMemoryWire(wire);
  const A = await createStack({ link: a, address: '198.18.1.1/24', layout });
  open.push(A);
  const B = await createStack({ link: b, address: '198.18.1.2/24', layout });
  open.push(B);
  return [A, B];
}

function listening(socket: UdpSocket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('listening', resolve);
    socket.once('error', reject);
  });
}

/** A UDP echo server: every datagram goes back to where it came from. */
async function echoServer(stack: Stack, port: number): Promise<UdpSocket> {
  const server = stack.udp.bind(port);
  server.on('message', (msg, rinfo) => server.send(msg, rinfo.port, rinfo.address));
  await listening(server);
  return server;
}

function counter(stats: Awaited<ReturnType<Stack['stats']>>, stage: string, name: string): number {
  return stats.stages[stage]?.[name] ?? 0;
}

describe.each(['inline', 'single', 'rx+proto', 'three'] as const)('two stacks over the memory wire, layout %s', (layout) => {
  it('resolve ARP and ping both ways', async () => {
    const [A, B] = await pair(layout);
    const ab = await A.ping('198.18.1.2', { count: 3, intervalMs: 1 });
    const ba = await B.ping('198.18.1.1', { count: 3, intervalMs: 1 });
    expect(ab).toHaveLength(3);
    expect(ba).toHaveLength(3);
    for (const rtt of [...ab, ...ba]) expect(rtt).toBeGreaterThanOrEqual(0);
    const sa = await A.stats();
    // A resolved B once (its request, B's reply), and answered B's three echo requests.
    expect(counter(sa, 'proto', 'arpIn')).toBeGreaterThanOrEqual(1);
    expect(counter(sa, 'proto', 'icmpEchoRepliesOut')).toBe(3);
    expect(counter(sa, 'proto', 'arpEntries')).toBe(1);
  });

  it('echo UDP datagrams with source address and port', async () => {
    const [A, B] = await pair(layout);
    await echoServer(B, 7);
    const client = A.udp.bind(0);
    await listening(client);
    const got = new Promise<[Buffer, { address: string; port: number }]>((resolve) => client.once('message', (m, r) => resolve([m, r])));
    client.send(Buffer.from('hello ringstack'), 7, '198.18.1.2');
    const [msg, rinfo] = await got;
    expect(msg.toString()).toBe('hello ringstack');
    expect(rinfo).toMatchObject({ address: '198.18.1.2', port: 7 });
    expect(client.address().port).toBeGreaterThanOrEqual(49152);
  });
});

describe('UDP', () => {
  it('works over 127.0.0.1', async () => {
    const [A] = await pair('single');
    const server = await echoServer(A, 5353);
    const client = A.udp.bind(0);
    await listening(client);
    const got = new Promise<[Buffer, { address: string; port: number }]>((resolve) => client.once('message', (m, r) => resolve([m, r])));
    client.send('over loopback', 5353, '127.0.0.1');
    const [msg, rinfo] = await got;
    expect(msg.toString()).toBe('over loopback');
    expect(rinfo).toMatchObject({ address: '127.0.0.1', port: server.address().port });
    const rtts = await A.ping('127.0.0.1', { count: 2, intervalMs: 1 });
    expect(rtts).toHaveLength(2);
  });

  it('reports EADDRINUSE and ECONNREFUSED', async () => {
    const [A, B] = await pair('inline');
    await echoServer(B, 9);
    const again = B.udp.bind(9);
    await expect(listening(again)).rejects.toMatchObject({ code: 'EADDRINUSE' });
    const client = A.udp.bind(0);
    await listening(client);
    client.connect(4444, '198.18.1.2');
    const error = new Promise<NodeJS.ErrnoException>((resolve) => client.once('error', resolve));
    client.send('anyone?');
    expect((await error).code).toBe('ECONNREFUSED');
  });

  it('reassembles fragmented datagrams, reordered and duplicated on the wire', async () => {
    const [A, B] = await pair('inline', { mtu: 1500, reorder: 0.2, duplicate: 0.1, seed: 7 });
    await echoServer(B, 7);
    const client = A.udp.bind(0);
    await listening(client);
    for (const size of [1473, 4000, 20_000, 65_507]) {
      const payload = Buffer.alloc(size);
      for (let i = 0; i < size; i++) payload[i] = (i * 31 + size) & 0xff;
      const got = new Promise<Buffer>((resolve) => client.once('message', (m) => resolve(m)));
      client.send(payload, 7, '198.18.1.2');
      expect((await got).equals(payload)).toBe(true);
    }
    const sb = await B.stats();
    expect(counter(sb, 'proto', 'reassemblyReassembled')).toBeGreaterThanOrEqual(4);
    expect(counter(sb, 'proto', 'fragmentsOut')).toBeGreaterThan(45);
  });

  it('refuses bad input with clear errors', async () => {
    const [A] = await pair('inline');
    const s = A.udp.bind(0);
    await listening(s);
    expect(() => s.send('x', 70000, '198.18.1.2')).toThrow(/Port should be/);
    expect(() => s.send('x', 7, '198.18.1')).toThrow(/invalid IPv4 address/);
    await expect(A.ping('not an address')).rejects.toThrow(/bad IPv4 address/);
    await expect(createStack({ link: createMemoryWire()[0], address: '198.18.1.1' })).rejects.toThrow(/A.B.C.D\/N/);
    expect(() => createMemoryWire({ loss: 2 })).toThrow(/probability/);
  });
});

/** Sends `total` datagrams with at most `window` unanswered at once; returns replies received. */
async function echoFlood(client: UdpSocket, total: number, window: number, port: number, address: string): Promise<number> {
  let sent = 0, received = 0;
  const payload = Buffer.alloc(64);
  return new Promise<number>((resolve) => {
    const sendOne = (): void => {
      payload.writeUInt32BE(sent, 0);
      sent++;
      client.send(payload, port, address);
    };
    client.on('message', () => {
      received++;
      if (sent < total) sendOne();
      else if (received === total) resolve(received);
    });
    while (sent < Math.min(window, total)) sendOne();
  });
}

describe('100 000 UDP datagrams', () => {
  it('echo with none lost at 0 % impairment (default layout, workers)', async () => {
    const [A, B] = await pair('single');
    await echoServer(B, 7);
    const client = A.udp.bind(0);
    await listening(client);
    expect(await echoFlood(client, 100_000, 256, 7, '198.18.1.2')).toBe(100_000);
    const [sa, sb] = [await A.stats(), await B.stats()];
    expect(counter(sb, 'proto', 'udpDelivered')).toBe(100_000);
    expect(counter(sa, 'proto', 'udpDelivered')).toBe(100_000);
    expect(counter(sb, 'proto', 'udpReceiveBufferErrors')).toBe(0);
  }, 120_000);

  it('at 10 % loss every lost datagram is counted by the wire', async () => {
    const [A, B] = await pair('inline', { loss: 0.1, seed: 42 });
    // Resolve ARP before the flood so every loss below is a datagram's.
    await A.ping('198.18.1.2', { count: 1 });
    await echoServer(B, 7);
    const client = A.udp.bind(0);
    await listening(client);
    const before = [await A.stats(), await B.stats()];
    let received = 0;
    client.on('message', () => received++);
    const payload = Buffer.alloc(64);
    const total = 100_000;
    for (let sent = 0; sent < total; ) {
      for (let i = 0; i < 1000; i++, sent++) client.send(payload, 7, '198.18.1.2');
      await new Promise((r) => A.clock.setTimer(5, () => r(undefined))); // virtual time: everything in flight lands
    }
    await new Promise((r) => A.clock.setTimer(50, () => r(undefined)));
    const after = [await A.stats(), await B.stats()];
    const dropped = (i: number): number => counter(after[i], 'tx', 'if1.txFaultDropped') - counter(before[i], 'tx', 'if1.txFaultDropped');
    const lostAB = dropped(0), lostBA = dropped(1);
    expect(lostAB).toBeGreaterThan(total * 0.08);
    expect(lostAB).toBeLessThan(total * 0.12);
    expect(counter(after[1], 'proto', 'udpDelivered')).toBe(total - lostAB);
    expect(received).toBe(total - lostAB - lostBA);
  }, 120_000);
});

describe('closing', () => {
  it('leaves no worker or handle behind', async () => {
    const baseline = process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate').sort();
    for (const layout of ['three', 'rx+proto', 'single'] as const) {
      const [A, B] = await pair(layout);
      await A.ping('198.18.1.2', { count: 1 });
      await A.close();
      await B.close();
      open.length = 0;
    }
    await new Promise((r) => setTimeout(r, 20));
    expect(process.getActiveResourcesInfo().filter((r) => r !== 'Timeout' && r !== 'Immediate').sort()).toEqual(baseline);
  });
});

describe('routing', () => {
  it('sends off-subnet packets to the default gateway, and refuses them without one (ENETUNREACH)', async () => {
    const [a, b] = createMemoryWire();
    const A = await createStack({ link: a, address: '198.18.1.1/24', gateway: '198.18.1.2', layout: 'inline' });
    open.push(A);
    const B = await createStack({ link: b, address: '198.18.1.2/24', layout: 'inline' });
    open.push(B);
    // B is a host, not a router: it drops what is not for it, so the ping goes unanswered — but it went to B.
    await expect(A.ping('198.19.5.5', { count: 1, timeoutMs: 200 })).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    const [sa, sb] = [await A.stats(), await B.stats()];
    expect(counter(sa, 'proto', 'arpEntries')).toBe(1); // the gateway's MAC, learned to reach 198.19.5.5
    expect(counter(sb, 'proto', 'ipNotForUs')).toBeGreaterThanOrEqual(1);
    expect(counter(sa, 'proto', 'noRoute')).toBe(0);

    const [c] = createMemoryWire();
    const C = await createStack({ link: c, address: '198.18.3.1/24', layout: 'inline' });
    open.push(C);
    await expect(C.ping('198.19.5.5', { count: 1, timeoutMs: 200 })).rejects.toMatchObject({ code: 'ENETUNREACH' });
    expect(counter(await C.stats(), 'proto', 'noRoute')).toBe(1);
  });
});
