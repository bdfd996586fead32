// Initial values for number fields that will hold doubles.
//
// V8 gives an object field the representation of the first value stored in it. A field started as a small integer
// (31 bits here) and later given a 32-bit sequence number or address above 2^30, a 48-bit MAC or a fractional
// millisecond time is generalized to a double: the object's map is deprecated and every function compiled against
// it deoptimizes — measured on the FTP data connection's first packets, mid-transfer (38 deoptimizations and
// 135 TurboFan compiles in a 1 GiB `ringstack get`). Starting such fields with a heap number avoids the change.

/** Zero as a heap number (−0 equals 0 in every comparison and sum these fields take part in). */
export const DOUBLE_ZERO: number = -0;

/** "None" for fields that hold a time or a sequence number and are tested with `< 0` / `>= 0`. */
export const DOUBLE_NONE: number = -0.5;

/**
 * An empty array whose elements are stored as doubles from the start. An array begun with small integers changes
 * its elements kind (and map) the first time it is given a sequence number above 2^30 or a fractional time, and the
 * functions compiled against it deoptimize: measured on the first out-of-order segment of a transfer, when
 * ReceiveRanges, the SACK scoreboard and the sent-segment records all changed at once.
 */
export function emptyDoubleArray(): number[] {
  const a = [DOUBLE_ZERO];
  a.length = 0;
  return a;
}
