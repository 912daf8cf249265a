/**
 * Scenario s: `npm start` spawned fresh, timed from the spawn to its banner (ready) and on to the
 * first WebSocket that opens (proven), against `npm start` of a bare `ws` server spawned the same
 * way in the same run (npm-start.ts): npm's own start-up, Node's and the machine's speed fall on
 * both. Cold runs start without node_modules/.cache/apigw-push (build and template made again, as
 * on a fresh checkout or after an edit under infra/); warm runs find it. Each run of ours follows
 * a run of the bare server. serverless-offline's published 1.7–2.1 s is quoted, not run here.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { median, ms, openSocket, round, type Scenario, times } from '../kit';
import { bareNpmStart, npmStart } from '../npm-start';

/**
 * The target: a warm `npm start` prints its banner within this multiple of the bare server's time
 * to listening, both from the spawn of `npm start`. The stack does what the bare server does, plus
 * loading dynalite, the handlers and the cached template, creating the tables and starting the
 * emulator's endpoints; twice a bare start is its budget for all of that.
 */
const READY_TARGET_RATIO = 2;

/** One fresh `npm start`: to its banner, its own figure, and to the first socket open (ms). */
async function once(root: string) {
  const t0 = performance.now();
  const stack = await npmStart(root);
  try {
    (await openSocket(stack.wsUrl, await stack.token('startup'))).terminate();
    return { bannerMs: stack.bannerMs, reportedMs: stack.reportedMs, firstSocketMs: performance.now() - t0 };
  } finally {
    await stack.stop();
  }
}

type Run = Awaited<ReturnType<typeof once>>;

/** The baseline's run: `npm start` of a bare ws server, to listening and to a socket open (ms). */
async function bareOnce() {
  const t0 = performance.now();
  const bare = await bareNpmStart();
  try {
    (await openSocket(bare.wsUrl)).terminate();
    return { bannerMs: bare.bannerMs, firstSocketMs: performance.now() - t0 };
  } finally {
    await bare.stop();
  }
}

type BareRun = Awaited<ReturnType<typeof bareOnce>>;

/** Medians of a set of runs and of the bare runs beside them, the ratio, and the runs for the JSON. */
function summary(name: string, runs: readonly Run[], bareRuns: readonly BareRun[]) {
  const of = (key: keyof Run) => median(runs.map((r) => r[key]));
  const [banner, socket] = [of('bannerMs'), of('firstSocketMs')];
  const bare = median(bareRuns.map((r) => r.bannerMs));
  const ratio = banner / bare;
  return {
    banner,
    bare,
    ratio,
    reported: of('reportedMs'),
    cell: `${name}: ${ms(banner)} to banner, ${ms(socket)} to first socket open`,
    bareCell: `${name}: ${ms(bare)} to listening, ${ms(median(bareRuns.map((r) => r.firstSocketMs)))} to first socket open`,
    data: {
      bareRuns: bareRuns.map((r) => ({
        bannerMs: round(r.bannerMs, 1),
        firstSocketMs: round(r.firstSocketMs, 1),
      })),
      medianBareMs: round(bare, 1),
      ratio: round(ratio, 3),
      runs: runs.map((r) => ({
        ...r,
        bannerMs: round(r.bannerMs, 1),
        firstSocketMs: round(r.firstSocketMs, 1),
      })),
      medianBannerMs: round(banner, 1),
      medianFirstSocketMs: round(socket, 1),
    },
  };
}

export const startupScenario: Scenario = async ({ quick, progress, root }) => {
  const coldRuns = quick ? 1 : 3;
  const warmRuns = quick ? 2 : 7;
  const runs: Run[] = [];
  const bareRuns: BareRun[] = [];
  const cache = join(root, 'node_modules', '.cache', 'apigw-push');
  for (let i = 0; i < coldRuns + warmRuns; i++) {
    bareRuns.push(await bareOnce());
    // Cold runs start without the cache; the last one leaves it for every warm run.
    if (i < coldRuns) rmSync(cache, { recursive: true, force: true });
    runs.push(await once(root));
    progress.tick('fresh npm start runs (bare server, then ours)', i + 1, coldRuns + warmRuns);
  }
  const c = summary('cold', runs.slice(0, coldRuns), bareRuns.slice(0, coldRuns));
  const w = summary('warm', runs.slice(coldRuns), bareRuns.slice(coldRuns));
  const pass = w.ratio <= READY_TARGET_RATIO;
  return {
    title: 'startup: npm start → ready, cold and warm',
    target: `warm banner ≤ ${READY_TARGET_RATIO}× a bare ws server's npm start`,
    ours: `${w.cell}; ${c.cell}`,
    baseline: `npm start of a bare ws server, same run: ${w.bareCell}; serverless-offline 1.7–2.1 s (published figure, not run)`,
    ratio: `warm ${times(w.ratio)}; cold ${times(c.ratio)}`,
    verdict: pass ? 'pass' : 'fail',
    path: `\`npm start -- --port 0 --quiet\` spawned fresh (npm's own start-up included), each run after one of the bare server's (\`npm start\` of a throwaway project whose start script is scripts/bench/bare-start.mjs): ${coldRuns} cold (no node_modules/.cache/apigw-push: build and synth), then ${warmRuns} warm; medians`,
    notes: [
      `the banner's own figure (process uptime at ready, npm's start-up left out): warm ${ms(w.reported)}, cold ${ms(c.reported)}`,
      'cold is a detail, not judged: a fresh checkout or an edit under infra/ pays the build and the synth once',
      'serverless-offline is a published figure, not a run on this machine: indicative only',
    ],
    data: { targetRatio: READY_TARGET_RATIO, cold: c.data, warm: w.data, pass },
  };
};
