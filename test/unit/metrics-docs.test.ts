/**
 * docs/deploy.md's metrics table against the code: every metric a handler emits is listed with
 * exactly the handlers that emit it, and every name in `METRICS` is emitted and listed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';
import { HANDLER_ENTRIES, type HandlerId, METRICS } from '../../lambdas/shared/deployment';

type MetricKey = Exclude<keyof typeof METRICS, 'defaultNamespace'>;
const METRIC_NAMES = Object.entries(METRICS)
  .filter(([key]) => key !== 'defaultNamespace')
  .map(([, name]) => name);

/** Every .ts file under `dir`, relative to the repository root. */
function sourcesUnder(dir: string): string[] {
  return readdirSync(join(REPO_ROOT, dir), { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(REPO_ROOT, join(entry.parentPath, entry.name)));
}

/** Metric name → the files under lambdas/ that emit it (`addMetric(METRICS.<key>, …)`). */
function emittedByFile(): Map<string, Set<string>> {
  const emitted = new Map<string, Set<string>>();
  for (const file of sourcesUnder('lambdas')) {
    const source = readFileSync(join(REPO_ROOT, file), 'utf8');
    for (const match of source.matchAll(/addMetric\(\s*METRICS\.(\w+)/g)) {
      const name = METRICS[match[1] as MetricKey];
      if (name === undefined) throw new Error(`${file} emits METRICS.${match[1]}, which METRICS lacks`);
      emitted.set(name, (emitted.get(name) ?? new Set()).add(file));
    }
  }
  return emitted;
}

/** Metric name → the handlers its docs/deploy.md row names. */
function documented(): Map<string, string[]> {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'deploy.md'), 'utf8');
  const table = doc.slice(doc.indexOf('### Metrics'));
  const rows = new Map<string, string[]>();
  for (const match of table.matchAll(/^\| `(\w+)` \| \w+ \| ([^|]+) \|/gm)) {
    const handlers = [...(match[2] as string).matchAll(/`(\w+)`/g)].map((m) => m[1] as string);
    rows.set(match[1] as string, handlers.sort());
  }
  return rows;
}

const handlerOf = new Map<string, HandlerId>(
  Object.entries(HANDLER_ENTRIES).map(([id, file]) => [file, id as HandlerId]),
);

describe("docs/deploy.md's metrics table", () => {
  const emitted = emittedByFile();
  const rows = documented();

  it('lists every name in METRICS, and nothing else', () => {
    expect([...rows.keys()].sort()).toEqual([...METRIC_NAMES].sort());
  });

  it('lists every metric the code emits, and none it does not', () => {
    expect([...emitted.keys()].sort()).toEqual([...rows.keys()].sort());
  });

  it.each(METRIC_NAMES)('names exactly the handlers that emit %s', (name) => {
    const files = [...(emitted.get(name) ?? [])];
    // Metrics are emitted where the handler wires its Metrics instance: in the handler's own file.
    expect(files.filter((file) => !handlerOf.has(file))).toEqual([]);
    expect(files.map((file) => handlerOf.get(file)).sort()).toEqual(rows.get(name));
  });
});
