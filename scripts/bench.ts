/**
 * `npm run bench`: measures the push service against baselines measured in the same run, prints a
 * table, and writes JSON and Markdown under `bench-results/` (gitignored); the README's Performance
 * section is a full run's `latest.md`. Progress goes to stderr. Exit codes: 0 when every scenario
 * ran (targets are judged in the table, not by the exit code, on a noisy machine), 1 when one
 * crashed, 2 for bad arguments.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, freemem, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { applyQuietEnv, Progress, type Scenario, type ScenarioResult } from './bench/kit';
import { onParentGone, STACK_MALLOC_ENV, superviseAsStackProcess } from './stack-process.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Each scenario, in the order they run, and its module, imported only when it runs. */
const ABOUT = {
  a: 'uid push latency through npm start, against a bare ws push server (two processes each)',
  r: "sequential DynamoDB round trips before a uid push's first post (+ AWS projection)",
  p: 'publish handler CPU per uid push, against the same requests sent as bare signed calls',
  b: 'topic fan-out to 10k connections (25 ms latency, 10k/s budget) against Scan + Promise.all',
  c: 'broadcast to 100k virtual connections through the sharded workers',
  d: 'items read per uid push at 10k connections, against the Scan baseline',
  e: 'cold start of each bundled Lambda against the same SDK clients from node_modules',
  f: 'RSS of the local stack holding 10k real sockets',
  s: 'startup: npm start until it accepts connections',
};
type ScenarioId = keyof typeof ABOUT;
const IDS = Object.keys(ABOUT) as ScenarioId[];
const SCENARIOS: Record<ScenarioId, () => Promise<Scenario>> = {
  a: () => import('./bench/scenarios/latency').then((m) => m.latencyScenario),
  r: () => import('./bench/scenarios/round-trips').then((m) => m.roundTripsScenario),
  p: () => import('./bench/scenarios/publish-cpu').then((m) => m.publishCpuScenario),
  b: () => import('./bench/scenarios/fanout').then((m) => m.fanOutScenario),
  c: () => import('./bench/scenarios/fanout').then((m) => m.broadcastScenario),
  d: () => import('./bench/scenarios/reads').then((m) => m.readsScenario),
  e: () => import('./bench/scenarios/cold-start').then((m) => m.coldStartScenario),
  f: () => import('./bench/scenarios/memory').then((m) => m.memoryScenario),
  s: () => import('./bench/scenarios/startup').then((m) => m.startupScenario),
};

const USAGE = `usage: npm run bench -- [scenario ...] [--quick] [--out DIR]

  scenarios  any of ${IDS.join(' ')} (default: all), in any order; they run in the order above
${IDS.map((id) => `               ${id}  ${ABOUT[id]}`).join('\n')}
  --quick    smoke-test sizes (seconds, not minutes); results are not comparable with a full run
  --out DIR  results directory (default bench-results; JSON and the Markdown table go there)

example: npm run bench -- b c --quick`;

function parse(argv: string[]): { scenarios: ScenarioId[]; quick: boolean; outDir: string; help: boolean } {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { quick: { type: 'boolean' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  });
  const picked = positionals.flatMap((raw) => raw.toLowerCase().split(',').filter(Boolean));
  const unknown = picked.find((id) => !(id in ABOUT));
  if (unknown !== undefined) throw new Error(`unknown scenario ${JSON.stringify(unknown)}`);
  return {
    scenarios: IDS.filter((id) => picked.length === 0 || picked.includes(id)),
    quick: values.quick ?? false,
    outDir: values.out ?? 'bench-results',
    help: values.help ?? false,
  };
}

/** A shell command's output in the repository, or undefined when it fails. */
function sh(command: string): string | undefined {
  try {
    return execFileSync('/bin/sh', ['-c', command], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function machine() {
  const openFilesLimit = Number(sh('ulimit -n'));
  return {
    cpu: (cpus()[0]?.model ?? 'unknown').replace(/\s+/g, ' ').trim(),
    cores: cpus().length,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    freeMemoryGiB: Math.round((freemem() / 2 ** 30) * 10) / 10,
    os: `${platform()} ${release()}`,
    node: process.version,
    openFilesLimit: Number.isFinite(openFilesLimit) ? openFilesLimit : undefined,
    // Other work on a shared machine moves every figure; this says how busy it was at the start.
    loadAverage: Math.round((loadavg()[0] ?? 0) * 100) / 100,
  };
}

const cell = (text: string) => text.replace(/\|/g, '\\|').replace(/\n/g, ' ');

function table(results: readonly ScenarioResult[]): string {
  const rows = results.map(
    (r) =>
      `| ${r.id} | ${[r.title, r.ours, r.baseline, r.ratio, r.target].map(cell).join(' | ')} | ${r.verdict === 'fail' ? '**FAIL**' : 'pass'} |`,
  );
  const header = '| # | scenario | ours | baseline (same run) | ours ÷ baseline | target | result |';
  return [header, '|---|---|---|---|---|---|---|', ...rows].join('\n');
}

async function runScenario(id: ScenarioId, quick: boolean, outDir: string): Promise<ScenarioResult> {
  const progress = new Progress(id);
  progress.note(`— ${ABOUT[id]} —`);
  const started = performance.now();
  try {
    const result = await (await SCENARIOS[id]())({ quick, progress, root: ROOT, outDir });
    const elapsedMs = performance.now() - started;
    const load = `1-minute load average ${loadavg()[0]?.toFixed(2)} when it ended (${cpus().length} cores)`;
    progress.note(`done in ${(elapsedMs / 1000).toFixed(1)} s: ${result.verdict}; ${load}`);
    return { id, ...result, notes: [...result.notes, load], elapsedMs };
  } catch (error) {
    const message = error instanceof Error ? (error.stack ?? error.message) : String(error);
    progress.note(`crashed: ${message}`);
    return {
      id,
      title: ABOUT[id],
      target: '—',
      ours: 'crashed',
      baseline: '—',
      ratio: '—',
      verdict: 'fail',
      path: 'the scenario threw before it finished',
      notes: [message.split('\n')[0] ?? ''],
      data: { crashed: true, error: message },
      elapsedMs: performance.now() - started,
    };
  }
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
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
  const started = performance.now();
  const info = machine();
  const commit = sh('git rev-parse HEAD');
  new Progress('bench').note(
    `scenarios ${args.scenarios.join(' ')}${args.quick ? ' (--quick)' : ''}; results in ${args.outDir}/`,
  );
  const results: ScenarioResult[] = [];
  // Written after every scenario, so a run that dies late keeps what it measured.
  const write = () => {
    const report = { startedAt, quick: args.quick, machine: info, gitCommit: commit, results };
    const json = `${JSON.stringify({ ...report, elapsedMs: performance.now() - started }, null, 2)}\n`;
    writeFileSync(join(outDir, `bench-${startedAt.replace(/[:.]/g, '-')}.json`), json);
    writeFileSync(join(outDir, 'latest.json'), json);
    const heading =
      `Measured ${startedAt.slice(0, 10)} on ${info.cores} × ${info.cpu}, ${info.memoryGiB} GiB RAM, ${info.os}, Node ${info.node}, load ${info.loadAverage} at start` +
      `${args.quick ? ' (**--quick**: smoke-test sizes, not comparable)' : ''}` +
      (commit === undefined ? '.' : `, at commit \`${commit.slice(0, 7)}\`.`);
    const notes = results.map((r) =>
      [`- **${r.id}** (${r.title}): ${r.path}.`, ...r.notes.map((n) => `  - ${n}`)].join('\n'),
    );
    writeFileSync(join(outDir, 'latest.md'), `${[heading, '', table(results), '', ...notes].join('\n')}\n`);
  };
  for (const id of args.scenarios) {
    results.push(await runScenario(id, args.quick, outDir));
    write();
  }
  process.stdout.write(`\n${table(results)}\n\n`);
  process.stdout.write(`full report: ${join(args.outDir, 'latest.md')} (JSON: latest.json)\n`);
  return results.some((r) => r.data.crashed === true) ? 1 : 0;
}

/**
 * Set in the process that runs the scenarios, to the malloc variables its supervisor added. Rows b,
 * c and p host the stack in that process, so it runs as `npm start` runs the stack's
 * (scripts/stack-process.mjs), and the process `npm run bench` starts only supervises it. Without
 * that, the stack's garbage collection in rows b and c took about a fifth of its CPU, with Node's
 * default young generation. The malloc variables are read when a process starts, so they are taken
 * out of the environment again at once: the baselines' and posters' processes start as before.
 */
const AS_STACK_ENV = 'PUSH_BENCH_AS_STACK';

const asStack = process.env[AS_STACK_ENV];
if (asStack === undefined) {
  const added = Object.keys(STACK_MALLOC_ENV).filter((name) => process.env[name] === undefined);
  const script = fileURLToPath(import.meta.url);
  superviseAsStackProcess(
    script,
    process.argv.slice(2),
    { [AS_STACK_ENV]: added.join(',') },
    'npm run bench',
  );
} else {
  for (const name of asStack.split(',')) if (name !== '') delete process.env[name];
  delete process.env[AS_STACK_ENV];
  // The supervisor killed outright cannot pass a signal on: stop as its SIGTERM would have.
  onParentGone(() => process.kill(process.pid, 'SIGTERM'));
  process.exitCode = await main();
}
