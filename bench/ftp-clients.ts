// Client programs bench/ftp.ts runs inside the bed's kernel-client namespace; each prints one JSON line.
//   basic-ftp HOST PATH OUT    basic-ftp's Client.downloadTo(OUT, PATH); seconds from connect to the end
//   retr-loop HOST PATH COUNT [WARMUP]  our FtpClient (node:net): COUNT RETRs of PATH over one control connection;
//                              seconds for the loop (after login), and each fetch's time; WARMUP untimed fetches
//                              first (0: the fetches of a fresh process, JIT cold)
//   raw-loop HOST PATH COUNT [WARMUP]   the same fetches as bare node:net calls (EPSV, RETR, connect, read to the
//                              end, 226): no timeouts, no checks beyond the reply codes. Not a client: the floor any
//                              Node client pays for sockets, streams and the JIT, to compare ours with.
import * as net from 'node:net';
import { Client } from 'basic-ftp';
import { FtpClient, FtpError, NetTransport } from '../src/ftp/index.js';

async function basicFtp(host: string, path: string, out: string): Promise<object> {
  const started = performance.now();
  const client = new Client(30_000);
  try {
    await client.access({ host, user: 'anonymous', password: 'anonymous@' });
    // basic-ftp's progress tracker samples socket.bytesRead on a 500 ms timer and at the end: no per-chunk cost.
    let bytes = 0;
    client.trackProgress((info) => (bytes = info.bytes));
    const response = await client.downloadTo(out, path);
    const seconds = (performance.now() - started) / 1000;
    return { bytes, seconds, reply: response.code };
  } finally {
    client.close();
  }
}

async function retrLoop(host: string, path: string, count: number, warmup: number): Promise<object> {
  const client = await FtpClient.connect({ transport: new NetTransport(), host });
  try {
    await client.login();
    const size = await client.size(path);
    const perFetch: number[] = [];
    let bytes = 0;
    let started = performance.now();
    for (let i = -warmup; i < count; i++) {
      if (i === 0) {
        bytes = 0;
        started = performance.now();
      }
      const t0 = performance.now();
      // The size is known (as from a listing): more or fewer bytes than that fail the fetch.
      const result = await client.download(path, (chunk) => void (bytes += chunk.length), { size });
      if (result.bytes !== size) throw new FtpError('verify', `fetch ${i}: ${result.bytes} bytes, expected ${size}`);
      if (i >= 0) perFetch.push(performance.now() - t0);
    }
    const seconds = (performance.now() - started) / 1000;
    perFetch.sort((a, b) => a - b);
    return { count, bytes, seconds, medianMs: perFetch[Math.floor(count / 2)] ?? null, maxMs: perFetch[count - 1] ?? null };
  } finally {
    await client.close();
  }
}

async function rawLoop(host: string, path: string, count: number, warmup: number): Promise<object> {
  const control = net.connect({ host, port: 21 });
  control.setNoDelay(true);
  const replies: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  let text = '';
  control.on('data', (chunk: Buffer) => {
    text += chunk.toString('latin1');
    for (let end = text.indexOf('\r\n'); end !== -1; end = text.indexOf('\r\n')) {
      const line = text.slice(0, end);
      text = text.slice(end + 2);
      if (!/^\d{3} /.test(line)) continue; // inner lines of a multi-line reply
      const waiter = waiting.shift();
      if (waiter === undefined) replies.push(line);
      else waiter(line);
    }
  });
  const reply = (): Promise<string> => {
    const line = replies.shift();
    return line !== undefined ? Promise.resolve(line) : new Promise((resolve) => waiting.push(resolve));
  };
  const expect = async (prefix: string): Promise<string> => {
    const line = await reply();
    if (!line.startsWith(prefix)) throw new Error(`expected ${prefix}, got ${line}`);
    return line;
  };
  try {
    await expect('220');
    control.write('USER anonymous\r\n');
    await expect('230');
    control.write('TYPE I\r\n');
    await expect('200');
    const perFetch: number[] = [];
    let bytes = 0;
    let started = performance.now();
    for (let i = -warmup; i < count; i++) {
      if (i === 0) {
        bytes = 0;
        started = performance.now();
      }
      const t0 = performance.now();
      control.write('EPSV\r\n');
      const port = Number(/\|\|\|(\d+)\|/.exec(await expect('229'))?.[1]);
      control.write(`RETR ${path}\r\n`);
      const data = net.connect({ host, port });
      const ended = new Promise<void>((resolve, reject) => {
        data.on('data', (chunk: Buffer) => void (bytes += chunk.length));
        data.on('end', resolve);
        data.on('error', reject);
      });
      await expect('150');
      await ended;
      await expect('226');
      data.destroy();
      if (i >= 0) perFetch.push(performance.now() - t0);
    }
    const seconds = (performance.now() - started) / 1000;
    perFetch.sort((a, b) => a - b);
    return { count, bytes, seconds, medianMs: perFetch[Math.floor(count / 2)] ?? null, maxMs: perFetch[count - 1] ?? null };
  } finally {
    control.destroy();
  }
}

const [mode, host, path, arg, warmupArg] = process.argv.slice(2);
const warmup = Number(warmupArg ?? 0);
if (host === undefined || path === undefined || arg === undefined) {
  console.error('usage: ftp-clients.ts basic-ftp HOST PATH OUT | retr-loop HOST PATH COUNT [WARMUP] | raw-loop HOST PATH COUNT [WARMUP]');
  process.exit(2);
}
const result =
  mode === 'basic-ftp' ? await basicFtp(host, path, arg)
  : mode === 'retr-loop' ? await retrLoop(host, path, Number(arg), warmup)
  : mode === 'raw-loop' ? await rawLoop(host, path, Number(arg), warmup)
  : undefined;
if (result === undefined) {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
console.log(JSON.stringify(result));
