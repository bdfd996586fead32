// What every CLI command module shares with src/main/cli.ts, kept apart so command modules need not import cli.ts
// (which imports them for its table).

/** Stable exit codes, for scripts: see the header of cli.ts. */
export const EXIT = { ok: 0, failure: 1, usage: 2, connection: 3, refused: 4, protocol: 5, verify: 6, interrupted: 130 } as const;

/** A mistake in the command line: exit code 2 and the message. */
export class UsageError extends Error {}

/**
 * The V8 flag the CLI sets for its own process, unless the user chose a tiering flag (in execArgv or NODE_OPTIONS):
 * no TurboFan (the top tier is then Maglev where V8 enables it, else Sparkplug's baseline code, as on Node 20). A CLI
 * transfer is over before TurboFan pays back: on 2 cores its background compiles (~660 ms in the first GiB) take
 * the CPU the transfer needs, and the warm code without it is within ~3 % of TurboFan's (docs/PERFORMANCE.md,
 * "V8 tiering in the CLI").
 */
export function cliTieringFlag(execArgv: readonly string[], nodeOptions: string | undefined): string | undefined {
  const given = [...execArgv, ...(nodeOptions ?? '').split(/\s+/)].map((flag) => flag.replaceAll('_', '-'));
  const chosen = given.some((flag) => /^--(no-)?(opt|max-opt|turbofan|maglev|sparkplug)(=|$)/.test(flag));
  return chosen ? undefined : '--max-opt=2';
}
