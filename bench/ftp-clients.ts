// Client programs bench/ftp.ts runs inside the bed's kernel-client namespace; each prints one JSON line.
//   basic-ftp HOST PATH OUT    basic-ftp's Client.downloadTo(OUT, PATH); seconds from connect to the end
//   retr-loop HOST PATH COUNT  our FtpClient (node:net): COUNT RETRs of PATH over one control connection;
//                              seconds for the loop (after login), and each fetch's time
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

async function retrLoop(host: string, path: string, count: number): Promise<object> {
  const client = await FtpClient.connect({ transport: new NetTransport(), host });
  try {
    await client.login();
    const size = await client.size(path);
    const perFetch: number[] = [];
    let bytes = 0;
    const started = performance.now();
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      // The size is known (as from a listing): more or fewer bytes than that fail the fetch.
      const result = await client.download(path, (chunk) => void (bytes += chunk.length), { size });
      if (result.bytes !== size) throw new FtpError('verify', `fetch ${i}: ${result.bytes} bytes, expected ${size}`);
      perFetch.push(performance.now() - t0);
    }
    const seconds = (performance.now() - started) / 1000;
    perFetch.sort((a, b) => a - b);
    return { count, bytes, seconds, medianMs: perFetch[Math.floor(count / 2)] ?? null, maxMs: perFetch[count - 1] ?? null };
  } finally {
    await client.close();
  }
}

const [mode, host, path, arg] = process.argv.slice(2);
if (host === undefined || path === undefined || arg === undefined) {
  console.error('usage: ftp-clients.ts basic-ftp HOST PATH OUT | retr-loop HOST PATH COUNT');
  process.exit(2);
}
const result =
  mode === 'basic-ftp' ? await basicFtp(host, path, arg)
  : mode === 'retr-loop' ? await retrLoop(host, path, Number(arg))
  : undefined;
if (result === undefined) {
  console.error(`unknown mode ${mode}`);
  process.exit(2);
}
console.log(JSON.stringify(result));
