/**
 * Scenario f: RSS per socket of the local stack holding 10k real sockets, against a bare `ws`
 * server holding as many.
 *
 * The stack runs in a child process (stack-child.ts), so its RSS is its own and not the clients'.
 * Every socket is a real `ws` client that went through the authorizer and `$connect`. The baseline
 * is a bare `ws` server in a child of its own: the per-socket floor of Node and `ws` here. RSS is
 * read after a low-memory collection (stack-child.ts says why), idle, after a first fifth of the
 * sockets, and with all of them. Per socket is the difference between the last two over the last
 * four fifths: the first fifth pays for what any first connections cost once (the JIT compiling the
 * connect path, the heap's first growth), which would otherwise swamp a small run.
 *
 * One run's RSS per socket may not be a stable figure: handshakes can leave the stack's V8 old
 * space more or less fragmented (pages committed around the holes of objects that lived a while
 * and died), and a full collection compacts only some of it. With Node's default semi-spaces,
 * runs of one build measured 4.1 to 13.2 KiB; `npm start`'s larger ones (STACK_V8_FLAGS) keep
 * that garbage young. So each server is measured in several runs, alternating, and the row takes
 * the median; the notes give every run and the heap's committed-but-unused share.
 *
 * The stack runs as `npm start` runs it, with dynalite in a process of its own (DynamoDB is a
 * service apart from API Gateway), so each connection's DynamoDB record is not in the stack's
 * figure: the row judges the emulator's process. dynalite's process is read at the same moments,
 * after the same collection, and its RSS per connection is given beside the row with the two
 * processes' sum, so the record's cost stays in view.
 */

import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import type { WebSocket } from 'ws';
import { forEachBounded } from '../../../lambdas/core/pool';
import { STACK_MALLOC_ENV, stackV8Flags } from '../../stack-process.mjs';
import { bytes, int, round, type Scenario, type ScenarioContext, sleep, socketFor, times } from '../kit';
import type { StackInfo, StackMemory } from '../stack-child';
import { forkWorker, type Worker } from '../worker';

type StackChild = Worker<StackInfo, { gc: boolean }, StackMemory>;

const TARGET = 1.5;

/** Fills a child with `count` connections from number `from`, keeping any client socket in `open`. */
type Load = (child: StackChild, from: number, count: number, open: WebSocket[]) => Promise<Loaded>;
type Loaded = { failed: number; firstError?: string };

/** Runs of each server, alternating; the row is their median. */
const RUNS = 3;

type Measured = Awaited<ReturnType<typeof measure>>;

/** The run with the median RSS per socket. */
function medianRun(runs: readonly Measured[]): Measured {
  const sorted = [...runs].sort((a, b) => a.perSocketBytes - b.perSocketBytes);
  return sorted[(sorted.length - 1) >> 1] as Measured;
}

/** One figure of every run, as the notes list it. */
const eachRun = (runs: readonly Measured[], figure: (run: Measured) => number) =>
  runs.map((run) => bytes(figure(run))).join(', ');

/** What `npm start` gives the stack's process: its malloc settings, and its V8 flags in NODE_OPTIONS. */
const STACK_PROCESS_ENV = {
  ...STACK_MALLOC_ENV,
  NODE_OPTIONS: [process.env.NODE_OPTIONS ?? '', ...stackV8Flags(process.env.NODE_OPTIONS ?? '')]
    .join(' ')
    .trim(),
};

const live = (usage: NodeJS.MemoryUsage) => usage.heapUsed + usage.external;
const settle = () => sleep(1_000);

/** Starts a child and reads its memory idle, after a fifth of `count`, and after all of them. */
async function measure(root: string, count: number, raw: boolean, load: Load) {
  const entry = join(root, 'scripts/bench/stack-child.ts');
  // Both servers start with the malloc settings and V8 flags `npm start` gives the stack's
  // process, so the ratio compares the servers, not two allocator or heap configurations.
  const child: StackChild = await forkWorker(entry, raw ? ['--raw'] : [], STACK_PROCESS_ENV);
  const memory = (gc: boolean) => child.call({ gc });
  const open: WebSocket[] = [];
  try {
    await settle();
    const idle = await memory(true);
    const warm = Math.round(count / 5);
    const started = performance.now();
    const first = await load(child, 0, warm, open);
    await settle();
    const warmed = await memory(true);
    const later = await load(child, warm, count - warm, open);
    const openMs = performance.now() - started;
    await settle();
    const full = await memory(true);
    const laterOpened = Math.max(1, count - warm - later.failed);
    const firstError = first.firstError ?? later.firstError;
    const dynamo =
      warmed.dynamo === undefined || full.dynamo === undefined
        ? undefined
        : {
            loadedRss: full.dynamo.rss,
            perSocketBytes: Math.round((full.dynamo.rss - warmed.dynamo.rss) / laterOpened),
            perSocketLiveBytes: Math.round((live(full.dynamo) - live(warmed.dynamo)) / laterOpened),
          };
    return {
      opened: count - first.failed - later.failed,
      failed: first.failed + later.failed,
      ...(firstError === undefined ? {} : { firstError }),
      openMs: round(openMs),
      openInChild: full.openConnections,
      idleRss: idle.usage.rss,
      warmRss: warmed.usage.rss,
      loadedRss: full.usage.rss,
      loadedHeapUsed: full.usage.heapUsed,
      // Committed V8 heap beyond what it holds, per socket: the fragmentation the text above means.
      perSocketHeapSlackBytes: Math.round(
        (full.usage.heapTotal - full.usage.heapUsed - (warmed.usage.heapTotal - warmed.usage.heapUsed)) /
          laterOpened,
      ),
      perSocketBytes: Math.round((full.usage.rss - warmed.usage.rss) / laterOpened),
      // Live bytes (V8 heap used + external): what is kept, without the allocator's slack.
      perSocketLiveBytes: Math.round((live(full.usage) - live(warmed.usage)) / laterOpened),
      // dynalite's own process over the same sockets: their records (stack runs only).
      ...(dynamo === undefined ? {} : { dynamo }),
    };
  } finally {
    for (const ws of open) ws.terminate();
    await child.stop();
  }
}

/** Real `ws` clients in this process, each with its own signed token; failures are counted, never hidden. */
function sockets(context: ScenarioContext, label: string, total: number, raw: boolean): Load {
  return async (child, from, count, open) => {
    context.progress.note(`${label}: opening ${int(count)} sockets (child pid ${child.pid})`);
    let failed = 0;
    let settled = 0;
    let firstError: string | undefined;
    const indexes = Array.from({ length: count }, (_, i) => from + i);
    await forEachBounded(indexes, raw ? 256 : 64, async (i) => {
      try {
        open.push(await socketFor(child.ready, `bench-${i}`));
      } catch (error) {
        failed++;
        firstError ??= (error as Error).message;
      }
      context.progress.tick(`${label} sockets`, from + ++settled, total);
    });
    return { failed, ...(firstError === undefined ? {} : { firstError }) };
  };
}

export const memoryScenario: Scenario = async (context) => {
  const wanted = context.quick ? 1_000 : 10_000;
  // Sockets this process can hold (`ulimit -n`, soft), leaving room for everything else it opens.
  const limit = Number(execFileSync('/bin/sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }));
  const count = Number.isFinite(limit) ? Math.min(wanted, limit - 512) : wanted;
  const rounds = context.quick ? 1 : RUNS;
  const stackRuns: Measured[] = [];
  const rawRuns: Measured[] = [];
  for (let run = 1; run <= rounds; run++) {
    const label = rounds === 1 ? '' : ` (run ${run} of ${rounds})`;
    stackRuns.push(
      await measure(context.root, count, false, sockets(context, `local stack${label}`, count, false)),
    );
    rawRuns.push(
      await measure(context.root, count, true, sockets(context, `bare ws server${label}`, count, true)),
    );
  }
  const stack = medianRun(stackRuns);
  const raw = medianRun(rawRuns);
  const record = stack.dynamo;
  if (record === undefined) throw new Error("the stack's child reported no dynalite process");
  const ratio = stack.perSocketBytes / raw.perSocketBytes;
  const liveRatio = stack.perSocketLiveBytes / raw.perSocketLiveBytes;
  const notes = [
    count < wanted
      ? `ulimit -n is ${limit}: this process can hold only ${int(count)} sockets, so that many were opened (the limit was not raised)`
      : '',
    `${int(stack.opened)} sockets opened through the authorizer and $connect in ${round(stack.openMs / 1000, 1)} s, ${int(stack.failed)} failed${stack.firstError === undefined ? '' : ` (first: ${stack.firstError})`}; the child counted ${int(stack.openInChild)} open`,
    stackRuns.length === 1
      ? 'one run of each server (--quick): its figures are not a median'
      : `${stackRuns.length} runs of each server, alternating; RSS per socket over them: stack ${eachRun(stackRuns, (r) => r.perSocketBytes)}; bare ws ${eachRun(rawRuns, (r) => r.perSocketBytes)}; the row and the figures below are each server's median run`,
    `V8 heap committed beyond what it holds, per socket: stack ${bytes(stack.perSocketHeapSlackBytes)} in its median run (${eachRun(stackRuns, (r) => r.perSocketHeapSlackBytes)} over the runs), bare ws ${bytes(raw.perSocketHeapSlackBytes)}: the old space the handshakes left fragmented, which a full collection compacts only in part`,
    `stack RSS idle ${bytes(stack.idleRss)}, after the first fifth ${bytes(stack.warmRss)}, with every socket ${bytes(stack.loadedRss)} after a low-memory collection (heap ${bytes(stack.loadedHeapUsed)}): ${bytes(stack.perSocketBytes)} per socket over the last four fifths`,
    `the connection's DynamoDB record is in dynalite's own process, as npm start runs it, not in the figure above: that process grew ${bytes(record.perSocketBytes)} RSS per connection (${bytes(record.perSocketLiveBytes)} live) over the same sockets after the same collection (${eachRun(stackRuns, (r) => r.dynamo?.perSocketBytes ?? 0)} over the runs; ${bytes(record.loadedRss)} with every record); the two processes together hold ${bytes(stack.perSocketBytes + record.perSocketBytes)} per connection, ${times((stack.perSocketBytes + record.perSocketBytes) / raw.perSocketBytes)} bare ws, which keeps no record`,
    `live bytes per socket (V8 heap used + external, after that collection): stack ${bytes(stack.perSocketLiveBytes)}, bare ws ${bytes(raw.perSocketLiveBytes)} (${times(liveRatio)})`,
    `whole process: ${times(stack.loadedRss / raw.loadedRss)} the bare server's RSS with every socket open, ${times(stack.idleRss / raw.idleRss)} idle (the SDK and the handlers are loaded before any socket)`,
    `bare ws server: idle ${bytes(raw.idleRss)}, after the first fifth ${bytes(raw.warmRss)}, with ${int(raw.opened)} sockets ${bytes(raw.loadedRss)}: ${bytes(raw.perSocketBytes)} per socket`,
  ].filter((note) => note !== '');
  const complete = stack.opened === count && stack.openInChild === count && raw.opened === count;
  return {
    title: `RSS per socket, local stack holding ${int(count)} real sockets`,
    target: `RSS per socket ≤ ${TARGET}× bare ws`,
    ours: `${bytes(stack.perSocketBytes)} RSS/socket (live ${bytes(stack.perSocketLiveBytes)}); the DynamoDB record, in dynalite's own process, ${bytes(record.perSocketBytes)} RSS`,
    baseline: `bare ws server: ${bytes(raw.perSocketBytes)} RSS/socket (live ${bytes(raw.perSocketLiveBytes)})`,
    ratio: `RSS ${times(ratio)} (live ${times(liveRatio)})`,
    verdict: complete && ratio <= TARGET ? 'pass' : 'fail',
    path: 'local stack in a child process, dynalite in memory in a process of its own (as npm start runs them); real ws clients in the bench process',
    notes,
    data: {
      wanted,
      openFilesLimit: Number.isFinite(limit) ? limit : undefined,
      stack,
      raw,
      stackRuns,
      rawRuns,
      ratio: round(ratio),
      liveRatio: round(liveRatio),
    },
  };
};
