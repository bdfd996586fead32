// Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4). Sequence numbers are plain numbers in [0, 2^32); a
// comparison looks at the signed 32-bit distance, so it stays right across the wrap as long as the two numbers are
// less than 2^31 apart — which the window sizes TCP allows guarantee.

/** a + n, wrapped to u32. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}

/** The signed distance b → a: positive when a is after b. */
export function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}

export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}

export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}

export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}

export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}

export function seqMax(a: number, b: number): number {
  return seqGt(a, b) ? a : b;
}

export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}

/** lo ≤ x < hi, modulo 2^32 (RFC 9293 §3.4's "window" tests). */
export function seqInRange(x: number, lo: number, hi: number): boolean {
  return ((x - lo) | 0) >= 0 && ((hi - x) | 0) > 0;
}
