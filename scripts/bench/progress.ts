/**
 * Progress on stderr while the bench runs, so stdout stays the results table. On a terminal a
 * counter rewrites its own line; in a pipe (CI, `tee`) it prints at most one line every two
 * seconds, plus the last one.
 */

const started = performance.now();

function stamp(): string {
  return `[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s]`;
}

/** Formats a count with thousands separators (`10,000`). */
export function count(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Reports one scenario's progress. */
export class Progress {
  readonly #scenario: string;
  readonly #tty: boolean;
  #lastLine = 0;
  #open = false;

  constructor(scenario: string, stream: NodeJS.WriteStream = process.stderr) {
    this.#scenario = scenario;
    this.#tty = stream.isTTY === true;
  }

  /** A line of its own: a phase starts, or something worth knowing happened. */
  note(message: string): void {
    this.#endCounter();
    process.stderr.write(`${stamp()} ${this.#scenario}  ${message}\n`);
  }

  /** A counter, `done` of `total`; repeated calls update it. */
  tick(label: string, done: number, total: number): void {
    const line = `${stamp()} ${this.#scenario}  ${label} ${count(done)}/${count(total)}`;
    const now = performance.now();
    if (this.#tty) {
      process.stderr.write(`\r${line}\x1b[K`);
      this.#open = true;
      if (done >= total) this.#endCounter();
      return;
    }
    if (done >= total || now - this.#lastLine >= 2_000) {
      this.#lastLine = now;
      process.stderr.write(`${line}\n`);
    }
  }

  #endCounter(): void {
    if (!this.#open) return;
    process.stderr.write('\n');
    this.#open = false;
  }
}
