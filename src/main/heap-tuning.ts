// V8's old-generation growth, tuned once per process for streams of fresh Buffers (a stack's `heapTuning`).
//
// After each full collection V8 lets the old generation grow by a factor it derives from how fast the program
// allocates *on its heap* (1.1 to 4). A socket reading Gbit/s into 'data' Buffers allocates almost nothing there
// (the bytes are ArrayBuffer backing stores), so V8 picks ~1.2–1.5. With the few MiB that a stack, its rings and
// a loader keep alive, that left about 15 MiB of room, and a bench process receiving 1 GiB at MTU 1500 then ran a
// full collection every 30–50 ms (78–86 instead of 3–4; docs/PERFORMANCE.md, "Full collections in the 'data' path").
// Fixing the factor at V8's own upper bound (4) ends that; the memory reducer still shrinks an idle heap.

import { setFlagsFromString } from 'node:v8';

/** `--heap-growing-percent`: the old generation may reach (1 + 300/100) = 4× its live size before a full collection. */
export const HEAP_GROWING_PERCENT = 300;

let heapTuned = false;

/** Whether node was started with its own `--heap-growing-percent` (command line or NODE_OPTIONS): that one wins. */
export function heapGrowthGiven(execArgv: readonly string[] = process.execArgv, nodeOptions = process.env['NODE_OPTIONS'] ?? ''): boolean {
  return [...execArgv, ...nodeOptions.split(/\s+/)].some((arg) => /^--heap[-_]growing[-_]percent(=|$)/.test(arg));
}

/**
 * Sets HEAP_GROWING_PERCENT for this process, once (every isolate, worker stages included, shares V8's flags),
 * unless node was given its own value. Returns whether ours is in force.
 */
export function tuneHeapGrowth(): boolean {
  if (heapTuned) return true;
  if (heapGrowthGiven()) return false;
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  heapTuned = true;
  return true;
}
