/** Human-readable byte counts (binary units). */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

export interface ProgressBar {
  update(done: number, total: number | undefined): void;
  finish(): void;
}

/** A one-line progress bar on a TTY (bytes, percent, rate, ETA), redrawn at most 10 times a second. */
export function progressBar(out: NodeJS.WritableStream & { isTTY?: boolean }): ProgressBar {
  if (out.isTTY !== true) return { update: () => undefined, finish: () => undefined };
  const started = performance.now();
  let last = 0;
  let drawn = false;
  return {
    update(done, total) {
      const now = performance.now();
      if (now - last < 100 && done !== total) return;
      last = now;
      const seconds = (now - started) / 1000;
      const rate = seconds > 0 ? done / seconds : 0;
      let line = `${formatBytes(done)}`;
      if (total !== undefined && total > 0) {
        const eta = rate > 0 ? Math.max(0, (total - done) / rate) : 0;
        line += ` / ${formatBytes(total)}  ${((done / total) * 100).toFixed(0).padStart(3)}%  ETA ${Math.floor(eta / 60)}:${String(Math.floor(eta % 60)).padStart(2, '0')}`;
      }
      line += `  ${formatBytes(rate)}/s`;
      out.write(`\r${line.padEnd(70)}`);
      drawn = true;
    },
    finish() {
      if (drawn) out.write('\n');
    },
  };
}
