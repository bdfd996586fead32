// The CLI's V8 tiering flag: set unless the user chose one, on the command line or in NODE_OPTIONS.

import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { cliTieringFlag } from '../src/main/cli-common.js';

describe('cliTieringFlag', () => {
  it('caps tiering at Maglev when the user chose nothing', () => {
    expect(cliTieringFlag([], undefined)).toBe('--max-opt=2');
    expect(cliTieringFlag(['--enable-source-maps'], '--max-old-space-size=4096')).toBe('--max-opt=2');
  });

  it("leaves the user's choice alone", () => {
    expect(cliTieringFlag(['--max-opt=3'], undefined)).toBeUndefined();
    expect(cliTieringFlag([], '--no-opt')).toBeUndefined();
    expect(cliTieringFlag([], ' --max_opt=1 ')).toBeUndefined();
    expect(cliTieringFlag(['--no-maglev'], '')).toBeUndefined();
    expect(cliTieringFlag(['--turbofan'], undefined)).toBeUndefined();
  });

  it('names a flag this V8 knows (setFlagsFromString ignores unknown ones)', () => {
    const options = execFileSync(process.execPath, ['--v8-options'], { encoding: 'utf8' });
    expect(options).toMatch(/^\s*--max-opt \(/m);
  });
});
