import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * True when this module runs from its TypeScript source (under tsx or vitest) rather than compiled JavaScript.
 * The one place that decides how every worker of ringstack is started.
 */
export const runningFromSource = import.meta.url.endsWith('.ts');

/** Resolves a module path written without extension (`../workers/stage-host`) to the file that exists. */
export function moduleUrl(pathWithoutExtension: string, base: string | URL): URL {
  return new URL(pathWithoutExtension + (runningFromSource ? '.ts' : '.js'), base);
}

/** execArgv a worker needs to load TypeScript sources: Node 20 only enables tsx in the main thread. */
export function workerExecArgv(): string[] {
  if (!runningFromSource) return [];
  return ['--import', new URL('./tsx-worker-preload.mjs', import.meta.url).href];
}

/** Starts a worker thread on `url` (from `moduleUrl`), from sources or compiled code alike. */
export function spawnWorker(url: URL, options: Omit<WorkerOptions, 'execArgv'> = {}): Worker {
  return new Worker(url, { ...options, execArgv: workerExecArgv() });
}
