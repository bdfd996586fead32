import { describe, expect, it } from 'vitest';
import { createTcpRepr, TCP_ACK, TCP_RST, TCP_SYN } from '../src/wire/index.js';
import type { TcpConnection } from '../src/workers/tcp/connection.js';
import { ADDR_A, ADDR_B, provider, rings, Simulation, Sink, Source } from './tcp-sim.js';

function establish(sim: Simulation, port = 80, backlog = 16) {
  const listener = sim.b.listen({ port, buffers: provider(), backlog });
  const client = sim.a.connect(sim.now, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: port, ...rings() });
  let server: TcpConnection | null = null;
  sim.run(() => (server ??= sim.b.accept(listener)) !== null && sim.eventsA.has('connected', client), 5000);
  return { listener, client, server: server! };
}

describe('TCP state machine', () => {
  it('answers a SYN to a closed port with RST: ECONNREFUSED', () => {
    const sim = new Simulation(3);
    const client = sim.a.connect(0, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 9, ...rings() });
    sim.run(() => sim.eventsA.has('closed', client), 5000);
    expect(sim.eventsA.codes()).toEqual(['ECONNREFUSED']);
    expect(sim.a.connectionCount).toBe(0);
  });

  it('times out a SYN nobody answers with ETIMEDOUT', () => {
    const sim = new Simulation(4, { synRetries: 2 });
    sim.blackhole = true;
    const client = sim.a.connect(0, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 80, ...rings() });
    sim.run(() => sim.eventsA.has('closed', client), 60_000);
    expect(sim.eventsA.codes()).toEqual(['ETIMEDOUT']);
    expect(sim.now).toBeGreaterThanOrEqual(7000); // 1 + 2 + 4 s of backoff
  });

  it('half-closes both ways, then the active closer waits 2·MSL in TIME-WAIT', () => {
    const sim = new Simulation(5, { mslMs: 1000 });
    const { client, server } = establish(sim);
    const clientSink = new Sink();
    const serverSink = new Sink();
    const toServer = new Source(1, 100_000);
    const toClient = new Source(2, 50_000);
    sim.pumps.push(() => {
      if (client.sendBuffer && toServer.fill(client.sendBuffer) > 0) sim.a.onSendBufferWritten(sim.now, client);
      if (server.receiveBuffer && serverSink.drain(server.receiveBuffer) > 0) sim.b.onReceiveBufferRead(sim.now, server);
      if (client.receiveBuffer && clientSink.drain(client.receiveBuffer) > 0) sim.a.onReceiveBufferRead(sim.now, client);
    });
    // The client sends all and half-closes; the server still sends after seeing EOF.
    sim.run(() => toServer.produced === 100_000, 5000);
    sim.a.shutdown(sim.now, client);
    sim.run(() => sim.eventsB.has('eof', server) && client.state === 6, 5000);
    expect(sim.a.info(client).state).toBe('FIN-WAIT-2');
    expect(sim.b.info(server).state).toBe('CLOSE-WAIT');
    sim.pumps.push(() => {
      if (server.sendBuffer && toClient.fill(server.sendBuffer) > 0) sim.b.onSendBufferWritten(sim.now, server);
    });
    sim.run(() => clientSink.received === 50_000, 5000);
    expect(serverSink.received).toBe(100_000);
    expect(serverSink.digest()).toBe(toServer.digest());
    expect(clientSink.digest()).toBe(toClient.digest());
    sim.b.shutdown(sim.now, server);
    sim.run(() => sim.eventsB.has('closed', server) && sim.eventsA.has('closed', client), 5000);
    expect(client.state).toBe(10); // TIME-WAIT, still holding the tuple
    expect(sim.a.connectionCount).toBe(1);
    const entered = client.timeWaitSince;
    sim.run(() => sim.a.connectionCount === 0, 10_000);
    expect(sim.now - entered).toBeGreaterThanOrEqual(2000);
    expect(sim.eventsA.codes()).toEqual([]);
  });

  it('handles a simultaneous close through CLOSING', () => {
    const sim = new Simulation(6, { mslMs: 500 });
    const { client, server } = establish(sim);
    sim.a.shutdown(sim.now, client);
    sim.b.shutdown(sim.now, server);
    expect(client.state).toBe(5); // FIN-WAIT-1
    sim.run(() => client.state === 10 && server.state === 10, 5000);
    sim.run(() => sim.a.connectionCount === 0 && sim.b.connectionCount === 0, 5000);
    expect(sim.eventsA.codes().concat(sim.eventsB.codes())).toEqual([]);
  });

  it('handles a simultaneous open', () => {
    const sim = new Simulation(7);
    const a = sim.a.connect(0, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 5000, localPort: 6000, ...rings() });
    const b = sim.b.connect(0, { localAddr: ADDR_B, remoteAddr: ADDR_A, remotePort: 6000, localPort: 5000, ...rings() });
    sim.run(() => sim.eventsA.has('connected', a) && sim.eventsB.has('connected', b), 10_000);
    expect(sim.a.info(a).state).toBe('ESTABLISHED');
    expect(sim.b.info(b).state).toBe('ESTABLISHED');
  });

  it('abort sends RST and the peer gets ECONNRESET', () => {
    const sim = new Simulation(8);
    const { client, server } = establish(sim);
    sim.a.abort(sim.now, client);
    sim.run(() => sim.eventsB.has('closed', server), 1000);
    expect(sim.eventsB.codes()).toEqual(['ECONNRESET']);
  });

  it('a slow reader closes the window; persist probes keep it alive and nothing is lost', () => {
    const sim = new Simulation(9);
    const { client, server } = establish(sim);
    const bytes = 2 * 1024 * 1024;
    const source = new Source(3, bytes);
    const sink = new Sink();
    let reading = false;
    sim.pumps.push(() => {
      if (source.fill(client.sendBuffer!) > 0) sim.a.onSendBufferWritten(sim.now, client);
      if (reading && sink.drain(server.receiveBuffer!, 8192) > 0) sim.b.onReceiveBufferRead(sim.now, server);
    });
    // The reader sleeps for 10 s: the window closes and the sender persists.
    sim.run(() => false, 10_000);
    expect(sim.a.info(client).sndWnd).toBe(0);
    expect(sim.a.stats.windowProbes).toBeGreaterThan(2);
    reading = true;
    sim.run(() => sink.received === bytes, 600_000);
    expect(sink.digest()).toBe(source.digest());
    expect(sim.a.info(client).state).toBe('ESTABLISHED');
  });

  it('keepalive detects a dead peer with ETIMEDOUT', () => {
    const sim = new Simulation(10);
    const { client } = establish(sim);
    sim.a.setKeepAlive(client, true, 1000, 500, 3);
    sim.run(() => false, 3000);
    expect(sim.a.stats.keepaliveProbes).toBeGreaterThan(0); // answered probes
    expect(sim.eventsA.codes()).toEqual([]);
    sim.blackhole = true;
    sim.run(() => sim.eventsA.has('closed', client), 10_000);
    expect(sim.eventsA.codes()).toEqual(['ETIMEDOUT']);
  });

  it('answers SYNs with cookies when the SYN queue is full, and completes those handshakes', () => {
    const sim = new Simulation(11);
    const listener = sim.b.listen({ port: 80, buffers: provider(64 * 1024), backlog: 2 });
    const clients: TcpConnection[] = [];
    for (let i = 0; i < 6; i++) {
      clients.push(sim.a.connect(0, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 80, ...rings(64 * 1024, 64 * 1024) }));
    }
    const accepted: TcpConnection[] = [];
    sim.run(() => {
      for (let c = sim.b.accept(listener); c !== null; c = sim.b.accept(listener)) accepted.push(c);
      return accepted.length === 6;
    }, 30_000);
    expect(listener.cookiesSent).toBeGreaterThan(0);
    expect(listener.cookiesAccepted).toBeGreaterThan(0);
    // Cookie connections keep SACK and window scaling through the timestamp bits, and carry data.
    const cookieConn = accepted[accepted.length - 1];
    expect(sim.b.info(cookieConn).sack).toBe(true);
    const source = new Source(5, 300_000);
    const sink = new Sink();
    const client = clients.find((c) => c.localPort === cookieConn.remotePort)!;
    sim.pumps.push(() => {
      if (source.fill(client.sendBuffer!) > 0) sim.a.onSendBufferWritten(sim.now, client);
      if (sink.drain(cookieConn.receiveBuffer!) > 0) sim.b.onReceiveBufferRead(sim.now, cookieConn);
    });
    sim.run(() => sink.received === 300_000, 30_000);
    expect(sink.digest()).toBe(source.digest());
  });

  it('rejects an old duplicate by PAWS and a forged RST/SYN with challenge ACKs (RFC 5961)', () => {
    const sim = new Simulation(12);
    const { client, server } = establish(sim);
    const before = sim.b.stats.pawsRejected;
    const old = createTcpRepr();
    old.srcPort = client.localPort; old.dstPort = server.localPort; old.seq = server.rcvNxt; old.ack = server.sndNxt;
    old.flags = TCP_ACK; old.window = 100; old.tsPresent = true; old.tsVal = (server.tsRecent - 1000) >>> 0; old.tsEcr = 0;
    const junk = new Uint8Array(100).fill(0xee);
    sim.b.input(sim.now, ADDR_A, ADDR_B, old, junk, 0, 100);
    expect(sim.b.stats.pawsRejected).toBe(before + 1);
    expect(server.rcvNxt).toBe(old.seq); // nothing accepted

    // A RST in the window but not at RCV.NXT: challenge ACK, connection survives.
    const rst = createTcpRepr();
    rst.srcPort = client.localPort; rst.dstPort = server.localPort; rst.seq = (server.rcvNxt + 1000) >>> 0; rst.flags = TCP_RST;
    const challengesBefore = sim.b.stats.challengeAcks;
    sim.b.input(sim.now, ADDR_A, ADDR_B, rst, junk, 0, 0);
    expect(sim.b.stats.challengeAcks).toBe(challengesBefore + 1);
    expect(sim.b.info(server).state).toBe('ESTABLISHED');
    // A SYN on an established connection: challenge ACK too.
    const syn = createTcpRepr();
    syn.srcPort = client.localPort; syn.dstPort = server.localPort; syn.seq = (server.rcvNxt + 5) >>> 0; syn.flags = TCP_SYN;
    syn.tsPresent = true; syn.tsVal = (server.tsRecent + 1) >>> 0;
    sim.b.input(sim.now, ADDR_A, ADDR_B, syn, junk, 0, 0);
    expect(sim.b.stats.challengeAcks).toBe(challengesBefore + 2);
    expect(sim.b.info(server).state).toBe('ESTABLISHED');
    // The exact RST kills it.
    rst.seq = server.rcvNxt;
    sim.b.input(sim.now, ADDR_A, ADDR_B, rst, junk, 0, 0);
    expect(sim.eventsB.codes()).toEqual(['ECONNRESET']);
  });

  it('reuses a TIME-WAIT 4-tuple for a new outgoing connection when timestamps were on', () => {
    const sim = new Simulation(13, { ephemeralPortFirst: 50000, ephemeralPortLast: 50000, timeWaitReuseMs: 1000 });
    const listener = sim.b.listen({ port: 80, buffers: provider(), backlog: 16 });
    for (let round = 0; round < 3; round++) {
      const client = sim.a.connect(sim.now, { localAddr: ADDR_A, remoteAddr: ADDR_B, remotePort: 80, ...rings() });
      expect(client.localPort).toBe(50000);
      let server: TcpConnection | null = null;
      sim.run(() => (server ??= sim.b.accept(listener)) !== null && sim.eventsA.has('connected', client), 5000);
      sim.a.close(sim.now, client);
      sim.run(() => sim.eventsB.has('eof', server!), 5000);
      sim.b.close(sim.now, server!);
      sim.run(() => client.state === 10, 5000);
      sim.run(() => false, 1500);
    }
    expect(sim.eventsA.codes()).toEqual([]);
  });
});
