/**
 * Scenario f: RSS of the local stack holding 10k real sockets.
 *
 * The stack runs in a child process (stack-child.ts), so its RSS is its own and not the clients'.
 * Every socket is a real `ws` client that went through the authorizer and `$connect` (a signed
 * token each, a DynamoDB record each). The baseline is a bare `ws` server in a child of its own,
 * holding as many sockets: the per-socket floor of Node and `ws` on this machine. RSS is read after
 * a full GC in the child, once idle and once with every socket open.
 */

import { startStackChild } from '../child';
import { bytes, int, times } from '../format';
import { openFilesLimit } from '../machine';
import { openSockets } from '../sockets';
import { round } from '../stats';
import type { Scenario, ScenarioContext } from '../types';

/** Sockets the client side (this process) can hold, leaving room for everything else it opens. */
function socketBudget(wanted: number): { count: number; limit: number | undefined } {
  const limit = openFilesLimit();
  return { count: limit === undefined ? wanted : Math.min(wanted, limit - 512), limit };
}

async function measure(
  context: ScenarioContext,
  label: string,
  count: number,
  raw: boolean,
): Promise<Record<string, number | string | undefined>> {
  const { progress } = context;
  const child = await startStackChild({}, { raw });
  try {
    await new Promise((r) => setTimeout(r, 500));
    const idle = await child.memory(true);
    progress.note(`${label}: opening ${int(count)} sockets (child pid ${child.pid})`);
    const opened = await openSockets({
      wsUrl: child.info.wsUrl,
      tokenSecret: child.info.tokenSecret || 'raw',
      count,
      concurrency: raw ? 256 : 64,
      onProgress: (settled) => progress.tick(`${label} sockets`, settled, count),
    });
    // Let the last handshakes' garbage settle, then measure after a full GC.
    await new Promise((r) => setTimeout(r, 1_000));
    const loaded = await child.memory(true);
    const loadedNoGc = await child.memory(false);
    const rate = opened.sockets.length / (opened.elapsedMs / 1000);
    for (const ws of opened.sockets) ws.terminate();
    return {
      requested: count,
      opened: opened.sockets.length,
      failed: opened.failed,
      firstError: opened.firstError,
      openMs: round(opened.elapsedMs),
      connectsPerSecond: round(rate, 1),
      openInChild: loaded.openConnections,
      idleRss: idle.usage.rss,
      loadedRss: loaded.usage.rss,
      loadedRssBeforeGc: loadedNoGc.usage.rss,
      loadedHeapUsed: loaded.usage.heapUsed,
      perSocketBytes: Math.round((loaded.usage.rss - idle.usage.rss) / Math.max(1, opened.sockets.length)),
    };
  } finally {
    await child.exit();
  }
}

export const memoryScenario: Scenario = async (context) => {
  const wanted = context.quick ? 1_000 : 10_000;
  const { count, limit } = socketBudget(wanted);
  const notes: string[] = [];
  if (count < wanted) {
    notes.push(
      `ulimit -n is ${limit}: this process can hold only ${int(count)} sockets, so that many were opened (the limit was not raised)`,
    );
  }
  const stack = await measure(context, 'local stack', count, false);
  const raw = await measure(context, 'bare ws server', count, true);
  const stackRss = Number(stack.loadedRss);
  const rawRss = Number(raw.loadedRss);
  const opened = Number(stack.opened);
  notes.push(
    `${int(opened)} sockets opened through the authorizer and $connect in ${round(Number(stack.openMs) / 1000, 1)} s (${int(Number(stack.connectsPerSecond))} connects/s), ${int(Number(stack.failed))} failed${stack.firstError === undefined ? '' : ` (first: ${stack.firstError})`}; the child counted ${int(Number(stack.openInChild))} open`,
    `stack RSS idle ${bytes(Number(stack.idleRss))}, with sockets ${bytes(stackRss)} after GC (${bytes(Number(stack.loadedRssBeforeGc))} before), heap ${bytes(Number(stack.loadedHeapUsed))}: ${bytes(Number(stack.perSocketBytes))} per socket, dynalite's in-memory records included`,
    `bare ws server: idle ${bytes(Number(raw.idleRss))}, with ${int(Number(raw.opened))} sockets ${bytes(rawRss)}: ${bytes(Number(raw.perSocketBytes))} per socket`,
  );
  const complete = opened === count && Number(stack.openInChild) === count;
  return {
    id: 'f',
    title: `RSS of the local stack holding ${int(count)} real sockets`,
    target: 'reported',
    ours: `${bytes(stackRss)} RSS (${bytes(Number(stack.perSocketBytes))}/socket)`,
    baseline: `bare ws server: ${bytes(rawRss)} (${bytes(Number(raw.perSocketBytes))}/socket)`,
    ratio: times(stackRss / rawRss),
    verdict: complete ? 'reported' : 'fail',
    path: 'local stack in a child process (dynalite in memory inside it); real ws clients in the bench process',
    notes,
    data: { wanted, openFilesLimit: limit, stack, raw },
  };
};
