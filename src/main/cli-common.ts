// What every CLI command module shares with src/main/cli.ts, kept apart so command modules need not import cli.ts
// (which imports them for its table).

/** Stable exit codes, for scripts: see the header of cli.ts. */
export const EXIT = { ok: 0, failure: 1, usage: 2, connection: 3, refused: 4, protocol: 5, verify: 6, interrupted: 130 } as const;

/** A mistake in the command line: exit code 2 and the message. */
export class UsageError extends Error {}
