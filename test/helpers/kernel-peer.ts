// The Linux kernel's TCP as the far end of bulk transfers: a small Node program started inside a bed namespace
// (`ip netns exec`, which execs node, so the PID we hold is node's and we end exactly it), serving
//   echo   — writes back what it reads, then half-closes after the client does;
//   sink   — reads until the client half-closes, then answers "<bytes> <sha256>\n" and closes;
//   source — reads one request line "<bytes>\n" and sends that prefix of `sourceFile`, then closes.
// And the stack-side halves of those transfers, hashing as they go, for tests and benches alike; and the kernel as
// the client of our echo server (kernelEchoClient).
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Duplex } from 'node:stream';
import { execInNamespace } from './testbed.js';

export interface KernelPeerPorts {
  readonly echo: number;
  readonly sink: number;
  readonly source: number;
}

export interface KernelPeer {
  readonly pid: number;
  readonly host: string;
  readonly ports: KernelPeerPorts;
  /** Ends the program (SIGKILL by PID) and waits for its exit; safe to call twice. */
  stop(): Promise<void>;
}

const PEER_PROGRAM = String.raw`
const net = require('node:net'), fs = require('node:fs'), crypto = require('node:crypto');
const [host, echoPort, sinkPort, sourcePort, sourceFile] = process.argv.slice(1);
const quiet = (s) => s.on('error', () => {});
const echo = net.createServer({ allowHalfOpen: true }, (s) => { quiet(s); s.pipe(s); });
const sink = net.createServer({ allowHalfOpen: true }, (s) => {
  quiet(s);
  const hash = crypto.createHash('sha256');
  let bytes = 0;
  s.on('data', (d) => { hash.update(d); bytes += d.length; });
  s.on('end', () => s.end(bytes + ' ' + hash.digest('hex') + '\n'));
});
const source = net.createServer((s) => {
  quiet(s);
  let line = '';
  const onData = (d) => {
    line += d.toString('latin1');
    const nl = line.indexOf('\n');
    if (nl < 0) { if (line.length > 32) s.destroy(); return; }
    s.off('data', onData);
    const bytes = Number(line.slice(0, nl));
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > fs.statSync(sourceFile).size) { s.end('bad request\n'); return; }
    if (bytes === 0) { s.end(); return; }
    fs.createReadStream(sourceFile, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 }).pipe(s);
  };
  s.on('data', onData);
});
let listening = 0;
for (const [server, port] of [[echo, echoPort], [sink, sinkPort], [source, sourcePort]]) {
  server.listen(Number(port), host, () => { if (++listening === 3) console.log('up'); });
}
`;

/** Starts the peer program in namespace `ns`, listening on `host`; resolves once all three servers listen. */
export function startKernelPeer(ns: string, host: string, sourceFile: string, ports: KernelPeerPorts = { echo: 7100, sink: 7101, source: 7102 }): Promise<KernelPeer> {
  const child: ChildProcess = spawn(
    'ip',
    ['netns', 'exec', ns, process.execPath, '-e', PEER_PROGRAM, host, String(ports.echo), String(ports.sink), String(ports.source), sourceFile],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`kernel peer in ${ns} did not start within 10 s; stderr: ${stderr}`));
    }, 10_000);
    child.stdout!.once('data', () => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, host, ports, stop });
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`kernel peer in ${ns} exited (${String(code ?? signal)}) before listening; stderr: ${stderr}`));
    });
  });
}

export interface TransferResult {
  readonly bytes: number;
  /** sha256 of what was sent (for a send) or received (for a receive), hex. */
  readonly sha256: string;
  readonly ms: number;
}

/**
 * Sends the first `bytes` bytes of `file` over `socket` (a connection to the peer's sink), half-closes, and
 * resolves with what we sent and what the sink says it received.
 */
export async function sendFilePrefix(socket: Duplex, file: string, bytes: number): Promise<{ sent: TransferResult; peer: { bytes: number; sha256: string } }> {
  const started = performance.now();
  const hash = createHash('sha256');
  let reply = '';
  const replied = new Promise<string>((resolve, reject) => {
    socket.on('data', (d: Buffer) => (reply += d.toString('latin1')));
    socket.once('end', () => resolve(reply));
    socket.once('error', reject);
  });
  replied.catch(() => {}); // a failure while we still write surfaces there; awaited below otherwise
  if (bytes > 0) {
    for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      if (!socket.write(chunk)) await waitForDrain(socket);
    }
  }
  socket.end();
  const text = await replied;
  const match = /^(\d+) ([0-9a-f]{64})\n$/.exec(text);
  if (!match) throw new Error(`sink answered ${JSON.stringify(text.slice(0, 100))}, not "<bytes> <sha256>"`);
  return {
    sent: { bytes, sha256: hash.digest('hex'), ms: performance.now() - started },
    peer: { bytes: Number(match[1]), sha256: match[2]! },
  };
}

/** Asks the peer's source for `bytes` bytes over `socket` and hashes everything until the peer closes. */
export function receivePrefix(socket: Duplex, bytes: number): Promise<TransferResult> {
  const started = performance.now();
  const hash = createHash('sha256');
  let got = 0;
  return new Promise((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      hash.update(d);
      got += d.length;
    });
    socket.once('end', () => resolve({ bytes: got, sha256: hash.digest('hex'), ms: performance.now() - started }));
    socket.once('error', reject);
    socket.write(`${bytes}\n`);
  });
}

/** Sends `bytes` deterministic bytes to the peer's echo server and checks every byte that comes back. */
export async function echoThrough(socket: Duplex, bytes: number): Promise<{ sent: string; received: TransferResult }> {
  const started = performance.now();
  const sentHash = createHash('sha256');
  const receivedHash = createHash('sha256');
  let got = 0;
  const done = new Promise<void>((resolve, reject) => {
    socket.on('data', (d: Buffer) => {
      receivedHash.update(d);
      got += d.length;
    });
    socket.once('end', resolve);
    socket.once('error', reject);
  });
  done.catch(() => {}); // a failure while we still write surfaces there; awaited below otherwise
  const chunk = patternChunk(256 << 10);
  for (let offset = 0; offset < bytes; offset += chunk.length) {
    const piece = bytes - offset < chunk.length ? chunk.subarray(0, bytes - offset) : chunk;
    sentHash.update(piece);
    if (!socket.write(piece)) await waitForDrain(socket);
  }
  socket.end();
  await done;
  return { sent: sentHash.digest('hex'), received: { bytes: got, sha256: receivedHash.digest('hex'), ms: performance.now() - started } };
}

/** A node program for a bed namespace (patternChunk's bytes): connects to us, sends `bytes` pattern bytes, prints what came back. */
const KERNEL_ECHO_CLIENT_CHUNK = 1 << 18;

function kernelEchoClientProgram(host: string, port: number, bytes: number): string {
  return String.raw`
const net = require('node:net'), crypto = require('node:crypto');
const chunk = Buffer.alloc(${KERNEL_ECHO_CLIENT_CHUNK});
for (let i = 0; i < chunk.length; i++) chunk[i] = (i * 131 + (i >>> 8) * 7) & 0xff;
const hash = crypto.createHash('sha256');
let got = 0;
const s = net.connect({ host: '${host}', port: ${port}, allowHalfOpen: true }, async () => {
  for (let off = 0; off < ${bytes}; off += chunk.length) {
    const piece = chunk.subarray(0, Math.min(chunk.length, ${bytes} - off));
    if (!s.write(piece)) await new Promise((r) => s.once('drain', r));
  }
  s.end();
});
s.on('data', (d) => { hash.update(d); got += d.length; });
s.on('end', () => console.log(got + ' ' + hash.digest('hex')));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
`;
}

/**
 * The kernel's TCP as the client of our echo server at host:port: a Node program in namespace `ns` sends `bytes`
 * pattern bytes, half-closes and hashes what comes back. Resolves with what it got and what it should have got.
 */
export async function kernelEchoClient(ns: string, host: string, port: number, bytes: number): Promise<{ got: string; expected: string }> {
  const r = await execInNamespace(ns, [process.execPath, '-e', kernelEchoClientProgram(host, port, bytes)], { timeoutMs: 60_000 });
  const expected = createHash('sha256');
  const chunk = patternChunk(KERNEL_ECHO_CLIENT_CHUNK);
  for (let off = 0; off < bytes; off += chunk.length) expected.update(chunk.subarray(0, Math.min(chunk.length, bytes - off)));
  return { got: r.stdout.toString().trim(), expected: `${bytes} ${expected.digest('hex')}` };
}

/** A buffer whose bytes depend on their position (so a misplaced segment changes the hash). */
export function patternChunk(length: number): Buffer {
  const b = Buffer.alloc(length);
  for (let i = 0; i < length; i++) b[i] = (i * 131 + (i >>> 8) * 7) & 0xff;
  return b;
}

/** sha256 of the first `bytes` bytes of `file`. */
export async function prefixSha256(file: string, bytes: number): Promise<string> {
  const hash = createHash('sha256');
  if (bytes > 0) for await (const chunk of createReadStream(file, { start: 0, end: bytes - 1, highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) hash.update(chunk);
  return hash.digest('hex');
}

function waitForDrain(socket: Duplex): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      socket.off('error', onError);
      resolve();
    };
    const onError = (error: Error): void => {
      socket.off('drain', onDrain);
      reject(error);
    };
    socket.once('drain', onDrain);
    socket.once('error', onError);
  });
}
