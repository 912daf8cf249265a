/**
 * Scenario s: `npm start` spawned fresh, timed from the spawn to its banner (ready) and on to the
 * first WebSocket that opens (proven). Cold runs start without node_modules/.cache/apigw-push (build
 * and template made again, as on a fresh checkout or after an edit under infra/); warm runs find it.
 * serverless-offline's published 1.7–2.1 s is quoted, not run here.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { median, ms, openSocket, round, type Scenario } from '../kit';
import { npmStart } from '../npm-start';

/** The target: a warm `npm start` prints its banner within this, npm's own start-up included. */
const READY_TARGET_MS = 1_500;

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

/** Medians of a set of runs, judged against the target, and its runs for the JSON. */
function summary(name: string, runs: readonly Run[]) {
  const of = (key: keyof Run) => median(runs.map((r) => r[key]));
  const [banner, socket] = [of('bannerMs'), of('firstSocketMs')];
  const pass = banner <= READY_TARGET_MS;
  return {
    banner,
    reported: of('reportedMs'),
    pass,
    cell: `${name}: ${ms(banner)} to banner (${pass ? 'pass' : 'FAIL'}), ${ms(socket)} to first socket open`,
    data: {
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
  const cache = join(root, 'node_modules', '.cache', 'apigw-push');
  for (let i = 0; i < coldRuns + warmRuns; i++) {
    // Cold runs start without the cache; the last one leaves it for every warm run.
    if (i < coldRuns) rmSync(cache, { recursive: true, force: true });
    runs.push(await once(root));
    progress.tick('fresh npm start runs', i + 1, coldRuns + warmRuns);
  }
  const [c, w] = [summary('cold', runs.slice(0, coldRuns)), summary('warm', runs.slice(coldRuns))];
  return {
    title: 'startup: npm start → ready, cold and warm',
    target: `ready (banner) ≤ ${ms(READY_TARGET_MS)} warm`,
    ours: `${w.cell}; ${c.cell}`,
    baseline: 'serverless-offline 1.7–2.1 s (published figure, not run)',
    ratio: `warm banner ${round(w.banner / READY_TARGET_MS, 2)}× the target`,
    verdict: w.pass ? 'pass' : 'fail',
    path: `\`npm start -- --port 0 --quiet\` spawned fresh (npm's own start-up included): ${coldRuns} cold (no node_modules/.cache/apigw-push: build and synth), then ${warmRuns} warm; medians`,
    notes: [
      `the banner's own figure (process uptime at ready, npm's start-up left out): warm ${ms(w.reported)}, cold ${ms(c.reported)}`,
      'serverless-offline is a published figure, not a run on this machine: indicative only',
    ],
    data: { targetMs: READY_TARGET_MS, cold: c.data, warm: w.data, coldPass: c.pass, warmPass: w.pass },
  };
};
