/**
 * What the handlers print, as Lambda would send it to CloudWatch: Powertools JSON log lines and EMF
 * metric lines. Locally the EMF lines are turned into counters (`GET /metrics`) instead of burying
 * the logs, and on a terminal the log lines are printed readably. Powertools writes its WARN and
 * ERROR lines to stderr (Lambda sends both streams to CloudWatch): those are taken to stdout with
 * the rest, so the stack's stderr keeps its own readable lines only, and they count in an
 * invocation's log tail.
 */
import { SERVICE_NAME } from '../lambdas/shared/env';
import { recordInvocationOutput } from './invocation-log';
import { formatValue, printable } from './logger';

/** One metric's running total since the process started capturing. */
export interface MetricTotal {
  readonly unit: string;
  /** Values recorded (an EMF line may carry several). */
  readonly samples: number;
  readonly sum: number;
  readonly max: number;
}

/** Totals by metric name. */
export type MetricTotals = Readonly<Record<string, MetricTotal>>;

interface EmfLine {
  _aws: { CloudWatchMetrics: { Metrics: { Name: string; Unit?: string }[] }[] };
  [key: string]: unknown;
}

const totals = new Map<string, { unit: string; samples: number; sum: number; max: number }>();
let holders = 0;
let pretty = false;
let originalWrite: typeof process.stdout.write | undefined;
let originalErrorWrite: typeof process.stderr.write | undefined;

/**
 * True for a Powertools log line: one JSON object with its string `level`, `message`, `service` and
 * `timestamp`, so that another library's JSON lines in a process hosting the stack stay on stderr.
 */
function isHandlerLogLine(chunk: unknown): chunk is string {
  if (typeof chunk !== 'string' || !chunk.startsWith('{"level":')) return false;
  try {
    const line = JSON.parse(chunk) as Partial<Record<'level' | 'message' | 'service' | 'timestamp', unknown>>;
    return [line.level, line.message, line.service, line.timestamp].every(
      (field) => typeof field === 'string',
    );
  } catch {
    return false;
  }
}

function isEmf(value: unknown): value is EmfLine {
  return (
    typeof value === 'object' && value !== null && Array.isArray((value as EmfLine)._aws?.CloudWatchMetrics)
  );
}

/** Adds one EMF document to the totals. Exported for tests. */
export function recordEmf(document: unknown): boolean {
  if (!isEmf(document)) return false;
  for (const group of document._aws.CloudWatchMetrics) {
    for (const { Name, Unit } of group.Metrics) {
      const raw = document[Name];
      const values = (Array.isArray(raw) ? raw : [raw]).filter((v): v is number => typeof v === 'number');
      const total = totals.get(Name) ?? { unit: Unit ?? 'None', samples: 0, sum: 0, max: 0 };
      for (const value of values) {
        total.samples++;
        total.sum += value;
        total.max = Math.max(total.max, value);
      }
      totals.set(Name, total);
    }
  }
  return true;
}

/** The totals now; subtract an earlier snapshot with {@link metricsSince}. */
export function metricTotals(): MetricTotals {
  return Object.fromEntries([...totals].map(([name, total]) => [name, { ...total }]));
}

/** What was recorded after `baseline` was taken. */
export function metricsSince(baseline: MetricTotals): MetricTotals {
  const now = metricTotals();
  const out: Record<string, MetricTotal> = {};
  for (const [name, total] of Object.entries(now)) {
    const before = baseline[name];
    const samples = total.samples - (before?.samples ?? 0);
    if (samples <= 0) continue;
    out[name] = { unit: total.unit, samples, sum: total.sum - (before?.sum ?? 0), max: total.max };
  }
  return out;
}

const LEVEL_WIDTH = 5;

/** Formats a Powertools JSON log line as `HH:MM:SS.mmm LEVEL message key=value …`. */
export function prettyLogLine(document: Record<string, unknown>): string | undefined {
  const {
    level,
    message,
    timestamp,
    service,
    sampling_rate: _rate,
    xray_trace_id: _trace,
    ...rest
  } = document;
  if (typeof level !== 'string' || typeof message !== 'string') return undefined;
  const time = typeof timestamp === 'string' ? printable(timestamp.slice(11, 23)) : '';
  // What a handler logs may carry a caller's text (a refused field's name in `reason`): each value
  // as the stack's own lines print it, so none can forge a line or act on the terminal.
  const fields = Object.entries(rest)
    .map(([key, value]) => ` ${printable(key)}=${formatValue(value)}`)
    .join('');
  const from = typeof service === 'string' ? printable(service) : SERVICE_NAME;
  return `${time} ${printable(level.toLowerCase()).padEnd(LEVEL_WIDTH)} ${from}: ${printable(message)}${fields}\n`;
}

function intercept(chunk: unknown): string | null | undefined {
  if (typeof chunk !== 'string' || !chunk.startsWith('{')) return undefined;
  let document: unknown;
  try {
    document = JSON.parse(chunk);
  } catch {
    return undefined;
  }
  if (recordEmf(document)) return null;
  if (pretty && typeof document === 'object' && document !== null) {
    return prettyLogLine(document as Record<string, unknown>);
  }
  return undefined;
}

/**
 * Starts capturing until the returned function is called (nested holds are counted, so several
 * stacks in one process share one capture). `prettyLogs` turns JSON log lines into readable ones.
 */
export function captureHandlerOutput(options: { prettyLogs?: boolean } = {}): () => void {
  holders++;
  if (options.prettyLogs) pretty = true;
  if (originalWrite === undefined) {
    const write = process.stdout.write.bind(process.stdout) as (...args: unknown[]) => boolean;
    originalWrite = process.stdout.write;
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
      recordInvocationOutput(chunk);
      const replaced = intercept(chunk);
      if (replaced === null) {
        const callback = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
        callback?.();
        return true;
      }
      return write(replaced ?? chunk, ...rest);
    }) as typeof process.stdout.write;
    originalErrorWrite = process.stderr.write;
    const writeError = process.stderr.write.bind(process.stderr) as (...args: unknown[]) => boolean;
    process.stderr.write = ((chunk: unknown, ...rest: unknown[]) =>
      isHandlerLogLine(chunk)
        ? (process.stdout.write as (...args: unknown[]) => boolean)(chunk, ...rest)
        : writeError(chunk, ...rest)) as typeof process.stderr.write;
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--holders > 0) return;
    if (originalWrite !== undefined) process.stdout.write = originalWrite;
    if (originalErrorWrite !== undefined) process.stderr.write = originalErrorWrite;
    originalWrite = undefined;
    originalErrorWrite = undefined;
    pretty = false;
  };
}
