/**
 * `npm run bench`: measures the push service against baselines measured in the same run, prints a
 * table, and writes JSON, Markdown and an SVG chart under `bench-results/` (gitignored).
 *
 *   npm run bench                      every scenario, full sizes (a few minutes)
 *   npm run bench -- b c               some scenarios
 *   npx tsx scripts/bench.ts --quick   smoke-test sizes, every scenario, well under a minute or two
 *   npm run bench -- --docs            also writes docs/bench-chart.svg and the README's bench section
 *
 * Progress goes to stderr, the table to stdout. Exit codes: 0 when every scenario ran (whatever
 * its verdict: targets are judged in the table, not by the exit code, on a noisy machine), 1 when
 * a scenario crashed, 2 for bad arguments. Scenarios are described in scripts/bench/cli.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  type BenchArgs,
  parseBenchArgs,
  SCENARIO_IDS,
  type ScenarioId,
  USAGE,
  UsageError,
} from './bench/cli';
import type { CostInputs } from './bench/cost';
import type { PublishCpu } from './bench/cpu-probes';
import { applyQuietEnv } from './bench/env';
import { machineInfo, machineLine } from './bench/machine';
import { Progress } from './bench/progress';
import { type BenchReport, markdownReport, resultsTable } from './bench/report';
import type { HandlerDurations } from './bench/scenarios/latency';
import type { Scenario, ScenarioResult } from './bench/types';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Each scenario's module, imported only when it runs. */
const SCENARIOS: Readonly<Record<ScenarioId, { title: string; load: () => Promise<Scenario> }>> = {
  a: {
    title: 'uid push latency',
    load: async () => (await import('./bench/scenarios/latency')).latencyScenario,
  },
  b: {
    title: 'topic fan-out to 10k connections',
    load: async () => (await import('./bench/scenarios/fanout')).fanOutScenario,
  },
  c: {
    title: 'broadcast to 100k virtual connections',
    load: async () => (await import('./bench/scenarios/broadcast')).broadcastScenario,
  },
  d: {
    title: 'items read per uid push',
    load: async () => (await import('./bench/scenarios/reads')).readsScenario,
  },
  e: {
    title: 'cold start',
    load: async () => (await import('./bench/scenarios/cold-start')).coldStartScenario,
  },
  f: {
    title: 'RSS with 10k real sockets',
    load: async () => (await import('./bench/scenarios/memory')).memoryScenario,
  },
  s: {
    title: 'startup',
    load: async () => (await import('./bench/scenarios/startup')).startupScenario,
  },
};

function gitCommit(): string | undefined {
  try {
    return execFileSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

async function runScenario(id: ScenarioId, args: BenchArgs, outDir: string): Promise<ScenarioResult> {
  const progress = new Progress(id);
  const { title } = SCENARIOS[id];
  progress.note(`— ${title} —`);
  const started = performance.now();
  try {
    const scenario = await SCENARIOS[id].load();
    const result = await scenario({ quick: args.quick, progress, root: ROOT, outDir });
    const elapsedMs = performance.now() - started;
    progress.note(`done in ${(elapsedMs / 1000).toFixed(1)} s: ${result.verdict}`);
    return { ...result, elapsedMs };
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    progress.note(`crashed: ${message}`);
    return {
      id,
      title,
      target: '—',
      ours: 'crashed',
      baseline: '—',
      ratio: '—',
      verdict: 'fail',
      path: 'the scenario threw before it finished',
      notes: [message.split('\n')[0] ?? message],
      data: { crashed: true, error: message },
      elapsedMs: performance.now() - started,
    };
  }
}

/** The cost model's inputs, when scenarios a and d both ran in this run. */
function costInputs(results: readonly ScenarioResult[]): CostInputs | undefined {
  const a = results.find((r) => r.id === 'a' && r.data.crashed !== true);
  const d = results.find((r) => r.id === 'd' && r.data.crashed !== true);
  if (a === undefined || d === undefined) return undefined;
  const durations = a.data.handlerDurationsMs as HandlerDurations;
  const cpu = a.data.publishCpu as PublishCpu;
  const c = results.find((r) => r.id === 'c' && r.data.crashed !== true);
  const ours = d.data.ours as { readUnits: number; perPush: { writes: { requests: number } }[] };
  const baseline = d.data.baseline as { readUnits: number };
  return {
    publishMs: durations.publishAt25ms,
    pingMs: durations.ping,
    authorizerMs: durations.authorizer,
    connectMs: durations.connect,
    disconnectMs: durations.disconnect,
    readUnitsPerPush: ours.readUnits,
    writesPerPush: ours.perPush[ours.perPush.length - 1]?.writes.requests ?? 0,
    baselineReadUnitsPerPush: baseline.readUnits,
    baselineConnections: Number(d.data.connections),
    publishCpuMs: cpu.perPushMs,
    fanOutCpuPerDeliveryMs: cpu.perFanOutDeliveryMs,
    batch: { size: cpu.batchSize, ms: durations.publishBatchAt25ms, cpuMs: cpu.perBatchMs },
    ...(typeof c?.data.workerCpuPerDeliveryMs === 'number'
      ? { workerCpuPerDeliveryMs: c.data.workerCpuPerDeliveryMs }
      : {}),
  };
}

function readmeSection(report: BenchReport): string {
  return [
    '`npm run bench` measures fan-out, latency, reads per push, cold start, memory and startup, each',
    'against a baseline measured in the same run, and writes JSON and this chart under `bench-results/`',
    '(`npm run bench -- b c` picks scenarios, `--quick` is a smoke test, `--docs` rewrites this section).',
    'Absolute times belong to the machine below; the ratios are what carry over. Costs built on these',
    'numbers are in [docs/cost.md](docs/cost.md). Scenarios b and c run the shard worker’s environments',
    'in child processes (two per core; in AWS each has its own CPU) and report, from the same run, the',
    'machine’s ceiling for signed `PostToConnection` calls through the emulator: their 1.5 s and 15 s',
    'targets need 6,667 posts/s, so where the ceiling is lower the machine, not the design, sets the time.',
    '',
    '![Topic fan-out: time to last delivery against connections, ours against Scan + Promise.all](docs/bench-chart.svg)',
    '',
    markdownReport(report),
  ].join('\n');
}

async function main(): Promise<number> {
  let args: BenchArgs;
  try {
    args = parseBenchArgs(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    process.stderr.write(`${error.message}\n\n${USAGE}\n`);
    return 2;
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const everything = args.scenarios.length === SCENARIO_IDS.length;
  if (args.docs && (args.quick || !everything)) {
    process.stderr.write('--docs needs a full run of every scenario (no --quick, no selection)\n');
    return 2;
  }
  applyQuietEnv();
  const outDir = resolve(ROOT, args.outDir);
  mkdirSync(outDir, { recursive: true });
  const startedAt = new Date().toISOString();
  const machine = machineInfo();
  const started = performance.now();
  new Progress('bench').note(
    `scenarios ${args.scenarios.join(' ')}${args.quick ? ' (--quick)' : ''}; results in ${args.outDir}/`,
  );

  const results: ScenarioResult[] = [];
  for (const id of args.scenarios) results.push(await runScenario(id, args, outDir));

  const cost = costInputs(results);
  const report: BenchReport = {
    startedAt,
    quick: args.quick,
    machine,
    gitCommit: gitCommit(),
    results,
    elapsedMs: performance.now() - started,
    ...(cost === undefined ? {} : { cost }),
  };
  const stamp = startedAt.replace(/[:.]/g, '-');
  const json = `${JSON.stringify(report, null, 2)}\n`;
  writeFileSync(join(outDir, `bench-${stamp}.json`), json);
  writeFileSync(join(outDir, 'latest.json'), json);
  writeFileSync(join(outDir, 'latest.md'), `${markdownReport(report)}\n`);
  const chart = results.find((r) => r.chart !== undefined)?.chart;
  if (chart !== undefined) {
    const { fanOutChart } = await import('./bench/chart');
    writeFileSync(join(outDir, 'bench-chart.svg'), fanOutChart(chart));
    if (args.docs) writeFileSync(join(ROOT, 'docs', 'bench-chart.svg'), fanOutChart(chart));
  }
  if (cost !== undefined) {
    const { costMarkdown } = await import('./bench/cost');
    const section = costMarkdown(cost, `on ${startedAt.slice(0, 10)} (${machineLine(machine)})`);
    writeFileSync(join(outDir, 'cost.md'), `${section}\n`);
    if (args.docs) {
      const { COST_MARKERS, writeSection } = await import('./bench/readme');
      writeSection(join(ROOT, 'docs', 'cost.md'), section, COST_MARKERS);
    }
  }
  if (args.docs) {
    const { writeSection } = await import('./bench/readme');
    writeSection(join(ROOT, 'README.md'), readmeSection(report));
  }

  process.stdout.write(`\n${resultsTable(results)}\n\n`);
  process.stdout.write(`full report: ${join(args.outDir, 'latest.md')} (JSON: latest.json)\n`);
  if (chart !== undefined) process.stdout.write(`chart: ${join(args.outDir, 'bench-chart.svg')}\n`);
  if (args.docs) process.stdout.write('updated README.md (bench section) and docs/bench-chart.svg\n');
  return results.some((r) => r.data.crashed === true) ? 1 : 0;
}

process.exitCode = await main();
