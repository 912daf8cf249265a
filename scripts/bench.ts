/**
 * `npm run bench`: measures the push service against baselines measured in the same run, prints a
 * table, and writes JSON and Markdown under `bench-results/` (gitignored). The README's
 * Performance section is `bench-results/latest.md` of a full run, pasted between its markers.
 *
 *   npm run bench                      every scenario, full sizes (a few minutes)
 *   npm run bench -- b c               some scenarios
 *   npx tsx scripts/bench.ts --quick   smoke-test sizes, every scenario, well under a minute or two
 *
 * Progress goes to stderr, the table to stdout. Exit codes: 0 when every scenario ran (whatever
 * its verdict: targets are judged in the table, not by the exit code, on a noisy machine), 1 when
 * a scenario crashed, 2 for bad arguments. Scenarios are described in scripts/bench/cli.ts.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchArgs, parseBenchArgs, type ScenarioId, USAGE, UsageError } from './bench/cli';
import { applyQuietEnv } from './bench/env';
import { machineInfo } from './bench/machine';
import { Progress } from './bench/progress';
import { type BenchReport, markdownReport, resultsTable } from './bench/report';
import type { Scenario, ScenarioResult } from './bench/types';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Each scenario's module, imported only when it runs. */
const SCENARIOS: Readonly<Record<ScenarioId, { title: string; load: () => Promise<Scenario> }>> = {
  a: {
    title: 'uid push latency through npm start',
    load: async () => (await import('./bench/scenarios/latency')).latencyScenario,
  },
  r: {
    title: 'sequential round trips before the first post',
    load: async () => (await import('./bench/scenarios/round-trips')).roundTripsScenario,
  },
  p: {
    title: 'publish CPU per uid push',
    load: async () => (await import('./bench/scenarios/publish-cpu')).publishCpuScenario,
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
    // Other work on a shared machine moves every figure; the table says how busy it was.
    const load = `1-minute load average ${loadavg()[0]?.toFixed(2)} when it ended (${cpus().length} cores)`;
    progress.note(`done in ${(elapsedMs / 1000).toFixed(1)} s: ${result.verdict}; ${load}`);
    return { ...result, notes: [...result.notes, load], elapsedMs };
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
  const commit = gitCommit();
  const stamp = startedAt.replace(/[:.]/g, '-');
  // Written after every scenario, so a run that dies late keeps what it measured.
  const write = () => {
    const report: BenchReport = {
      startedAt,
      quick: args.quick,
      machine,
      gitCommit: commit,
      results,
      elapsedMs: performance.now() - started,
    };
    const json = `${JSON.stringify(report, null, 2)}\n`;
    writeFileSync(join(outDir, `bench-${stamp}.json`), json);
    writeFileSync(join(outDir, 'latest.json'), json);
    writeFileSync(join(outDir, 'latest.md'), `${markdownReport(report)}\n`);
  };
  for (const id of args.scenarios) {
    results.push(await runScenario(id, args, outDir));
    write();
  }
  process.stdout.write(`\n${resultsTable(results)}\n\n`);
  process.stdout.write(`full report: ${join(args.outDir, 'latest.md')} (JSON: latest.json)\n`);
  return results.some((r) => r.data.crashed === true) ? 1 : 0;
}

process.exitCode = await main();
