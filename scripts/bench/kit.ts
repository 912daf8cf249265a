/** What every scenario works with: its context and result, progress, number formats and statistics. */
import { once } from 'node:events';
import { WebSocket } from 'ws';
import { secretKey, signToken } from '../../lambdas/core/token';

/** What a scenario is given. */
export interface ScenarioContext {
  readonly quick: boolean;
  readonly progress: Progress;
  /** Repository root. */
  readonly root: string;
  /** Absolute results directory (gitignored), for scratch files such as bundles. */
  readonly outDir: string;
}

/** One row of the table (short cells; `path` says which code path ran) and everything measured (`data`). */
export type ScenarioResult = Readonly<
  Record<'id' | 'title' | 'target' | 'ours' | 'baseline' | 'ratio' | 'path', string>
> & {
  /** Against the project's own target. */
  readonly verdict: 'pass' | 'fail';
  readonly notes: readonly string[];
  readonly data: Readonly<Record<string, unknown>>;
  readonly elapsedMs: number;
};

/** A scenario; the runner adds its id and elapsed time. */
export type Scenario = (context: ScenarioContext) => Promise<Omit<ScenarioResult, 'id' | 'elapsedMs'>>;

/**
 * Set before any stack starts (the handlers read it at module scope): Powertools silenced, or every
 * connect would print two JSON lines to the bench's stdout, and fake credentials for loopback only.
 */
export const QUIET_ENV: Readonly<Record<string, string>> = {
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_DEV: 'false',
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
};

export function applyQuietEnv(): void {
  Object.assign(process.env, QUIET_ENV);
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
}

export const FAKE_CREDENTIALS = { accessKeyId: 'bench', secretAccessKey: 'bench' } as const;

const started = performance.now();

/**
 * Progress on stderr, so stdout stays the table. On a terminal a counter rewrites its own line; in a
 * pipe (CI, `tee`) it prints at most one line every two seconds, plus the last one.
 */
export class Progress {
  readonly #tty = process.stderr.isTTY === true;
  #lastLine = 0;
  #open = false;

  constructor(readonly scenario: string) {}

  note(message: string): void {
    if (this.#open) process.stderr.write('\n');
    this.#open = false;
    process.stderr.write(`${this.#line(message)}\n`);
  }

  tick(label: string, done: number, total: number): void {
    const line = this.#line(`${label} ${int(done)}/${int(total)}`);
    if (this.#tty) {
      process.stderr.write(`\r${line}\x1b[K${done >= total ? '\n' : ''}`);
      this.#open = done < total;
    } else if (done >= total || performance.now() - this.#lastLine >= 2_000) {
      this.#lastLine = performance.now();
      process.stderr.write(`${line}\n`);
    }
  }

  #line(text: string): string {
    return `[${((performance.now() - started) / 1000).toFixed(1).padStart(6)}s] ${this.scenario}  ${text}`;
  }
}

const finite = (value: number, text: string) => (Number.isFinite(value) ? text : 'n/a');
/** `0.84 ms`, `12.3 ms`, `1,234 ms`. */
export const ms = (v: number) =>
  finite(v, v < 10 ? `${v.toFixed(2)} ms` : v < 100 ? `${v.toFixed(1)} ms` : `${int(v)} ms`);
export const seconds = (valueMs: number) => finite(valueMs, `${(valueMs / 1000).toFixed(2)} s`);
/** `0.42×`, `1,250×`. */
export const times = (v: number) => finite(v, v >= 100 ? `${int(v)}×` : `${v.toFixed(2)}×`);
export const bytes = (v: number) =>
  v >= 2 ** 20 ? `${(v / 2 ** 20).toFixed(1)} MiB` : `${(v / 1024).toFixed(1)} KiB`;
/** `10,000`. */
export const int = (v: number) => finite(v, Math.round(v).toLocaleString('en-US'));

/** The median: the mean of the two middle values for an even count. */
export function median(samples: readonly number[]): number {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  if (sorted.length % 2 === 1) return sorted[mid] as number;
  return ((sorted[mid - 1] ?? Number.NaN) + (sorted[mid] ?? Number.NaN)) / 2;
}

/** p50, p90, p99 (nearest rank) and max of latency samples. */
export function summarize(samples: readonly number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
  return { n: samples.length, p50: rank(50), p90: rank(90), p99: rank(99), max: sorted.at(-1) ?? Number.NaN };
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** `POST /publish` on a local stack (or the bare push server): the status and the parsed answer. */
export async function postPublish(stack: { httpUrl: string }, body: unknown) {
  const init = {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  };
  const res = await fetch(`${stack.httpUrl}/publish`, init);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A uid push that must answer 200 with exactly one delivery (a broken push cannot pass for a fast one). */
export async function pushUid(stack: { httpUrl: string }, uid: string, id: string, data: unknown) {
  const { status, body } = await postPublish(stack, { to: { uid }, data, id });
  if (status !== 200 || body.delivered !== 1) throw new Error(`publish: ${status} ${JSON.stringify(body)}`);
}

/** Opens `url` (with `?token=` when given); a refused handshake, an error or 30 s of silence throws. */
export async function openSocket(url: string, token?: string): Promise<WebSocket> {
  const ws = new WebSocket(token === undefined ? url : `${url}?token=${encodeURIComponent(token)}`, {
    perMessageDeflate: false,
  });
  // Failures surface through once() below; a later error must not crash the bench.
  ws.on('error', () => {});
  try {
    await once(ws, 'open', { signal: AbortSignal.timeout(30_000) });
  } catch (error) {
    ws.terminate();
    throw error;
  }
  return ws;
}

/** A socket of `uid` on a stack, with a token signed with its secret and good for three hours. */
export async function socketFor(
  stack: { wsUrl: string; tokenSecret: string },
  uid: string,
): Promise<WebSocket> {
  const token = await signToken({ uid, topics: [], ttlSeconds: 3 * 3600 }, secretKey(stack.tokenSecret));
  return openSocket(stack.wsUrl, token);
}
