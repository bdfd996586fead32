// The CLI's stack commands (`ping`, `stats`): each brings a ringstack stack up on a link, does its work, prints,
// and closes the stack. Every stack command takes the same --link/--ip/--gateway/--mtu/--pcap/--layout/--offloads.
import { setFlagsFromString } from 'node:v8';
import type { CliCommand, CliIo, CliOption } from './cli.js';
import { EXIT, UsageError } from './cli-common.js';
import type { FtpTransport } from '../ftp/index.js';
import { ringstackTransport } from './ftp-transport.js';
import { resolvingTransport } from './dns.js';
import { createStack, type Stack, type StackLayout, type StackStats } from './stack.js';
import { parseLinkName, type LinkSpec } from '../link/index.js';

type OptionValues = Record<string, string | boolean | undefined>;

export const stackOptions = {
  link: { type: 'string', description: 'the link: packet:IFNAME, packet:auto, tap:NAME or raw' },
  ip: { type: 'string', description: "the stack's address and prefix, A.B.C.D/N" },
  gateway: { type: 'string', description: 'default gateway A.B.C.D' },
  mtu: { type: 'string', description: "cap the link's MTU (68-65535)" },
  pcap: { type: 'string', description: 'write every frame of the link to this pcap file' },
  layout: { type: 'string', description: 'three, rx+proto, single or inline (default: inline on packet/tap links, else single)' },
  offloads: { type: 'string', description: 'packet and tap links: on (default: virtio-net headers, TSO and checksum offload) or off' },
  json: { type: 'boolean', description: 'print JSON on stdout' },
} as const satisfies Record<string, CliOption>;

const LAYOUTS: readonly StackLayout[] = ['three', 'rx+proto', 'single', 'inline'];

function stringOption(values: OptionValues, name: string): string | undefined {
  const v = values[name];
  return typeof v === 'string' ? v : undefined;
}

function numberOption(values: OptionValues, name: string, fallback: number, check: (n: number) => boolean, what: string): number {
  const text = stringOption(values, name);
  if (text === undefined) return fallback;
  const n = Number(text);
  if (text.trim() === '' || !check(n)) throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(text)}`);
  return n;
}

/**
 * The layout of a CLI stack without --layout. A command whose only application is its own event loop (ping, stats,
 * get, ls, put, serve) runs `inline` on a kernel link: measured against `single` on packet and TAP links, its ping
 * RTT was 3–4× shorter and `ringstack get` 1.21–1.32× faster, in every round (docs/PERFORMANCE.md, "Layout
 * `inline` on kernel links"). The library's default stays `single`: there an application may block its thread,
 * and an inline stack would stop with it. `load` shares its stack with application threads and keeps `single`.
 */
const CLI_KERNEL_LINK_LAYOUT: StackLayout = 'inline';

function isKernelLinkName(link: string): boolean {
  return /^(packet|tap):/.test(link);
}

/**
 * V8's tier-up budget for a CLI stack whose link delivers super-frames (bytecode bytes a function runs before
 * TurboFan is asked for it; V8's default is 67 584). On 2 cores TurboFan's background compiles take the core the
 * kernel peer's sending runs on: 0.44 s of compile-thread CPU during the first 1 GiB `get`, while the transfer is
 * CPU-bound. In two processes the first GiB took 0.85 and 0.70 s, the fourth 0.46 and 0.38 s; with TurboFan
 * off (`--no-opt`) every GiB took ~0.52 s. This budget, 31× the default, lets only the hottest functions tier up once
 * their feedback has settled: `get` of 1 GiB over packet with the peer's offloads on, alternating with V8's
 * default, median 0.886 → 0.606 s (8 rounds; `--no-opt` 0.661 s) and 0.802 → 0.566 s (5 rounds, with the
 * restore below). docs/PERFORMANCE.md, "JIT warm-up".
 */
export const CLI_INTERRUPT_BUDGET = 2 * 1024 * 1024;
/**
 * Below this average frame size the per-frame code needs TurboFan early, and V8's default budget comes back. With
 * MTU-sized frames (peer offloads off) the same `get` still costs a little more than under V8's default: median
 * 2.10 → 2.24 s (6 rounds). Setting the high budget only once the frames were judged large cost nothing there,
 * but kept only half the gain with offloads on (0.85 → 0.72 s): the early compiles had been started by then.
 */
export const SMALL_FRAME_BYTES = 16 * 1024;
/** Frames received before their average is judged (the control connection's few small frames hardly count). */
const FRAMES_TO_JUDGE = 1024;
const JUDGE_INTERVAL_MS = 10;
/** A stack that has not received FRAMES_TO_JUDGE by then (a quiet server, a ping) goes back to V8's default. */
const JUDGE_FOR_MS = 10_000;
/** V8's own --interrupt-budget (Node 20, V8 11.3). */
export const V8_DEFAULT_INTERRUPT_BUDGET = 67_584;

/** Whether the CLI may set V8's tier-up budget: not when node was started with one of its own. */
export function mayTuneJit(execArgv: readonly string[] = process.execArgv): boolean {
  return !execArgv.some((arg) => /^--interrupt[-_]budget(=|$)/.test(arg));
}

/** Sets V8's tier-up budget, process-wide (worker stages share it): CLI_INTERRUPT_BUDGET by default. */
export function setTierUpBudget(budget = CLI_INTERRUPT_BUDGET): void {
  setFlagsFromString(`--interrupt-budget=${budget}`);
}

/** The average size of the frames the stack's interfaces received, once FRAMES_TO_JUDGE have arrived. */
export function averageReceivedFrame(stats: StackStats): number | undefined {
  let frames = 0;
  let bytes = 0;
  for (const [name, value] of Object.entries(stats.stages['rx'] ?? {})) {
    if (name.endsWith('.rxFrames')) frames += value;
    else if (name.endsWith('.rxBytes')) bytes += value;
  }
  return frames < FRAMES_TO_JUDGE ? undefined : bytes / frames;
}

/**
 * Watches the frames `stack` receives and gives V8 its default budget back if they are small, or if too few come
 * within JUDGE_FOR_MS. V8 reads the flag each time a function's budget runs out, so functions already counting
 * switch at their next tick.
 */
function restoreBudgetForSmallFrames(stack: Stack): void {
  const until = Date.now() + JUDGE_FOR_MS;
  const restore = (): void => {
    clearInterval(timer);
    setTierUpBudget(V8_DEFAULT_INTERRUPT_BUDGET);
  };
  const timer = setInterval(() => {
    stack.stats().then((stats) => {
      const average = averageReceivedFrame(stats);
      if (average === undefined) {
        if (Date.now() > until) restore();
        return;
      }
      if (average < SMALL_FRAME_BYTES) restore();
      else clearInterval(timer);
    }, () => clearInterval(timer));
  }, JUDGE_INTERVAL_MS);
  timer.unref();
}

/**
 * Brings a stack up from the shared options and says so on stderr (scripts wait for that line before they talk
 * to it); bad option values are usage errors (exit 2). `ownLoopOnly`: the command's event loop is the stack's
 * only application (see CLI_KERNEL_LINK_LAYOUT).
 */
export async function stackFromOptions(values: OptionValues, io: CliIo, ownLoopOnly = false): Promise<Stack> {
  const link = stringOption(values, 'link');
  const ip = stringOption(values, 'ip');
  if (link === undefined) throw new UsageError('--link is required (e.g. --link packet:eth0)');
  if (ip === undefined) throw new UsageError('--ip is required (e.g. --ip 198.18.0.2/24)');
  const layout = stringOption(values, 'layout') ?? (ownLoopOnly && isKernelLinkName(link) ? CLI_KERNEL_LINK_LAYOUT : undefined);
  if (layout !== undefined && !LAYOUTS.includes(layout as StackLayout)) throw new UsageError(`--layout must be one of ${LAYOUTS.join(', ')}`);
  const linkSpec = cliLinkSpec(link, stringOption(values, 'offloads'));
  const mtu = stringOption(values, 'mtu') === undefined ? undefined
    : numberOption(values, 'mtu', 0, (n) => Number.isInteger(n) && n >= 68 && n <= 65535, 'an integer from 68 to 65535');
  // Before the stack's code first runs: V8 gives a function its budget when it allocates its feedback.
  const jitTuned = mayTuneJit();
  if (jitTuned) setTierUpBudget();
  let stack: Stack;
  try {
    stack = await createStack({
      link: linkSpec,
      address: ip,
      gateway: stringOption(values, 'gateway'),
      mtu,
      pcap: stringOption(values, 'pcap'),
      // A CLI stack talks to real peers: inline runs on the real clock.
      ...(layout !== undefined ? { layout: layout as StackLayout, clock: 'real' as const } : {}),
    });
  } catch (error) {
    // The stack checks addresses and link names: those are the command line's mistakes.
    if (error instanceof TypeError || error instanceof RangeError) throw new UsageError(error.message);
    throw error;
  }
  if (jitTuned) restoreBudgetForSmallFrames(stack);
  const iface = stack.interfaceList().find((i) => i.index !== 0);
  io.stderr.write(`ringstack: up on ${iface?.name ?? link} as ${iface?.address}/${iface?.prefixLength} (mac ${iface?.mac}, mtu ${iface?.mtu}, layout ${stack.layout})\n`);
  return stack;
}

/**
 * The link a CLI name stands for. Packet and TAP links get virtio-net headers unless `--offloads off`: the kernel
 * then takes our TCP super-segments and cuts them (TSO) and tells us the checksum state of what it hands us. A
 * `put` of 100 MiB over packet, alternating, 6 rounds: median 0.396 s with them against 0.701 s without (curl
 * 0.223 s); a `get` of 1 GiB 0.866 against 0.953 s. docs/PERFORMANCE.md, session 11.
 */
export function cliLinkSpec(link: string, offloads: string | undefined): LinkSpec | string {
  if (offloads !== undefined && offloads !== 'on' && offloads !== 'off') throw new UsageError(`--offloads must be on or off, got ${JSON.stringify(offloads)}`);
  if (!isKernelLinkName(link)) {
    if (offloads !== undefined) throw new UsageError('--offloads applies to packet and tap links only');
    return link;
  }
  try {
    return { ...parseLinkName(link), vnetHdr: offloads !== 'off' };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

/** Counters as `stage.name value` lines (zeros left out), then the interfaces and ring occupancy. */
export function formatStats(stats: StackStats): string {
  const lines = [`layout ${stats.layout}`];
  for (const i of stats.interfaces) lines.push(`interface ${i.index} ${i.name} ${i.address}/${i.prefixLength} mac ${i.mac} mtu ${i.mtu}`);
  for (const [stage, counters] of Object.entries(stats.stages)) {
    for (const [name, value] of Object.entries(counters).sort(([a], [b]) => a.localeCompare(b))) {
      if (value !== 0) lines.push(`${stage}.${name} ${value}`);
    }
  }
  for (const [ring, use] of Object.entries(stats.rings)) lines.push(`ring ${ring} ${use.usedBytes}/${use.capacityBytes}`);
  return `${lines.join('\n')}\n`;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

async function printStats(stack: Stack, values: OptionValues, io: CliIo, extra: Record<string, unknown> = {}): Promise<void> {
  const stats = await stack.stats();
  if (values['json'] === true) io.stdout.write(`${JSON.stringify({ ...extra, stats })}\n`);
  else io.stdout.write(formatStats(stats));
}

function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

const ping: CliCommand = {
  summary: 'ICMP echo from a ringstack stack',
  usage: 'ping HOST --link L --ip A.B.C.D/N [--gateway G] [--mtu M] [--pcap FILE] [--layout X] [--count N] [--interval S] [--timeout S] [--size B] [--stats] [--json]',
  options: {
    ...stackOptions,
    count: { type: 'string', short: 'c', description: 'echo requests to send (default 4)' },
    interval: { type: 'string', short: 'i', description: 'seconds between requests (default 1)' },
    timeout: { type: 'string', short: 'W', description: 'seconds to wait for each reply (default 2)' },
    size: { type: 'string', short: 's', description: 'ICMP payload bytes (default 56)' },
    stats: { type: 'boolean', description: "print the stack's counters after the pings" },
  },
  positionals: { min: 1, max: 1 },
  async run({ values, positionals, io }) {
    const host = positionals[0];
    const count = numberOption(values, 'count', 4, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');
    const intervalMs = numberOption(values, 'interval', 1, (n) => n >= 0 && Number.isFinite(n), 'a number of seconds ≥ 0') * 1000;
    const timeoutMs = numberOption(values, 'timeout', 2, (n) => n > 0 && Number.isFinite(n), 'a positive number of seconds') * 1000;
    const size = numberOption(values, 'size', 56, (n) => Number.isInteger(n) && n >= 0 && n <= 65507, 'an integer from 0 to 65507');
    const json = values['json'] === true;
    const stack = await stackFromOptions(values, io, true);
    try {
      if (!json) io.stdout.write(`PING ${host} from ${stack.address}: ${size} data bytes\n`);
      let rtts: number[] = [];
      let failure: Error | null = null;
      try {
        rtts = await stack.ping(host, {
          count, intervalMs, timeoutMs, size, signal: io.signal,
          onReply: (seq, rtt) => {
            if (!json) io.stdout.write(`${size + 8} bytes from ${host}: icmp_seq=${seq} time=${rtt.toFixed(3)} ms\n`);
          },
          onError: (seq, error) => {
            if (!json) io.stdout.write(`no reply from ${host}: icmp_seq=${seq} ${(error as NodeJS.ErrnoException).code ?? error.message}\n`);
          },
        });
      } catch (error) {
        if (error instanceof TypeError || error instanceof RangeError) throw new UsageError(error.message);
        failure = error as Error;
      }
      const sorted = [...rtts].sort((a, b) => a - b);
      const summary = {
        host, transmitted: count, received: rtts.length, rttsMs: rtts,
        minMs: sorted[0] ?? null, p50Ms: sorted.length ? percentile(sorted, 0.5) : null, maxMs: sorted.at(-1) ?? null,
        error: failure ? ((failure as NodeJS.ErrnoException).code ?? failure.message) : null,
      };
      if (json) {
        if (values['stats'] === true) await printStats(stack, values, io, { command: 'ping', ...summary });
        else io.stdout.write(`${JSON.stringify({ command: 'ping', ...summary })}\n`);
      } else {
        const loss = (((count - rtts.length) / count) * 100).toFixed(0);
        io.stdout.write(`--- ${host} ping statistics ---\n${count} transmitted, ${rtts.length} received, ${loss}% packet loss\n`);
        if (sorted.length) io.stdout.write(`rtt min/p50/max = ${summary.minMs!.toFixed(3)}/${summary.p50Ms!.toFixed(3)}/${summary.maxMs!.toFixed(3)} ms\n`);
        if (values['stats'] === true) await printStats(stack, values, io);
      }
      if (io.signal.aborted) return EXIT.interrupted;
      if (failure) {
        io.stderr.write(`ringstack ping: ${failure.message}\n`);
        return EXIT.connection;
      }
      return EXIT.ok;
    } finally {
      await stack.close();
    }
  },
};

const stats: CliCommand = {
  summary: "bring a stack up on a link and print its counters",
  usage: 'stats --link L --ip A.B.C.D/N [--gateway G] [--mtu M] [--pcap FILE] [--layout X] [--wait S] [--json]',
  options: {
    ...stackOptions,
    wait: { type: 'string', short: 'w', description: 'seconds to stay up first, answering ARP and pings (default 0; Ctrl-C ends it early)' },
  },
  positionals: { min: 0, max: 0 },
  async run({ values, io }) {
    const waitMs = numberOption(values, 'wait', 0, (n) => n >= 0 && Number.isFinite(n), 'a number of seconds ≥ 0') * 1000;
    const stack = await stackFromOptions(values, io, true);
    try {
      await sleep(waitMs, io.signal);
      await printStats(stack, values, io, { command: 'stats' });
      return EXIT.ok;
    } finally {
      await stack.close();
    }
  },
};

/** The table's stack entries; cli.ts merges them into `commands`. */
export const stackCommands: Record<string, CliCommand> = { ping, stats };

// ---- the FTP commands over our stack ---------------------------------------------------------------------------

const cliStacks = new Set<Stack>();

/**
 * The FTP transport of `get`/`ls`/`put`/`serve` without `--kernel`: a stack brought up from --link/--ip/... on
 * first use (so a usage error costs no stack), closed by `closeCliStacks` when the command ends.
 */
export function stackTransport(values: OptionValues, io: CliIo): FtpTransport {
  let up: Promise<FtpTransport> | undefined;
  const transport = (): Promise<FtpTransport> => (up ??= stackFromOptions(values, io, true).then((stack) => {
    cliStacks.add(stack);
    // Host names resolve over this stack's UDP: --dns, else resolv.conf's nameservers.
    return resolvingTransport(ringstackTransport(stack), { stack, dns: stringOption(values, 'dns') });
  }));
  if (stringOption(values, 'link') === undefined || stringOption(values, 'ip') === undefined) {
    throw new UsageError('without --kernel the FTP commands run on our stack: give --link and --ip (e.g. --link packet:eth0 --ip 198.18.0.2/24), or use --kernel');
  }
  return {
    name: 'ringstack',
    connect: async (options) => (await transport()).connect(options),
    listen: async (options) => (await transport()).listen(options),
    upgradeToTls: async (socket, options) => (await transport()).upgradeToTls(socket, options),
  };
}

/** Closes the stacks the command brought up. */
export async function closeCliStacks(): Promise<void> {
  const stacks = [...cliStacks];
  cliStacks.clear();
  await Promise.allSettled(stacks.map((s) => s.close()));
}
