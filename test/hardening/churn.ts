/**
 * Connection churn against a running local stack, shared by the CI test (churn.test.ts) and the
 * soak script: many connects and disconnects on bounded lanes, a share of them abrupt (the socket
 * is destroyed and its `$disconnect` lost), with uid publishes running throughout. It measures
 * and returns everything the checks need instead of asserting, so the soak can report too.
 *
 * Liveness without sleeps: every tenth connection (sampled) stays open until a publish to its uid
 * that started after it opened has completed (one publisher serves the sampled connection that has
 * waited longest; the others publish to any uid), and every connection, before it closes, waits
 * for every message of every publish to its uid that ran entirely while it was open. A message
 * that never comes is counted lost.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isLive } from '../../lambdas/core/expiry';
import { HANDLERS } from '../../lambdas/shared/deployment';
import { LIMITS } from '../../lambdas/shared/limits';
import { CONNECTIONS_TABLE } from '../../lambdas/shared/tables';
import type { LambdaHandler } from '../../local/lambda-types';
import type { LocalStack } from '../../local/stack';
import { within } from '../support/within';
import { type Client, openSocket, parallel, publish, scanAll, seeded, tokenFor } from './helpers';

/** Options for {@link runChurn}. */
export interface ChurnOptions {
  /** Connections opened and closed in all. */
  readonly connections: number;
  /** Connections open at once (lanes). @default 48 */
  readonly lanes?: number;
  /** Distinct uids. @default 100 */
  readonly uids?: number;
  /** Every n-th connection closes abruptly with its `$disconnect` lost (5 → 20%). @default 5 */
  readonly abruptEvery?: number;
  /** Every n-th connection subscribes to a topic first, so it leaves several records. @default 10 */
  readonly subscribeEvery?: number;
  /**
   * Every n-th connection stays open until a publish to its own uid has completed, and is checked
   * for every message owed to it; the others open and close at once. @default 10
   */
  readonly sampleEvery?: number;
  /** Concurrent publishers during the churn (one serves the sampled connections). @default 2 */
  readonly publishers?: number;
  /**
   * The connect grace the stack's handlers run with (`PUSH_CONNECT_GRACE_MS`): the cleanup round
   * waits until the youngest dead connection is past it. @default LIMITS.connectGraceMs
   */
  readonly connectGraceMs?: number;
  /** The DynamoDB the stack uses, without faults, for the final table reads. */
  readonly dynamodbEndpoint: string;
  readonly seed?: number;
}

/** What a churn run saw. */
export interface ChurnResult {
  readonly connections: number;
  readonly abrupt: number;
  readonly clean: number;
  readonly subscribed: number;
  readonly refusedHandshakes: number;
  readonly durationMs: number;
  readonly publishes: number;
  readonly deliveries: number;
  readonly goneDuringChurn: number;
  readonly failedDeliveries: number;
  /** Messages owed to a connection that was open for the whole publish, and never received. */
  readonly lost: number;
  /** Checks of "live for the whole publish" that were made (connection × publish pairs). */
  readonly livePairsChecked: number;
  /** Records of dead connections left when the churn ended (before the cleanup round). */
  readonly staleRecordsAfterChurn: number;
  /** Of those, how many the expiry rule would still treat as live two hours and five minutes on. */
  readonly staleLiveAfterExpiry: number;
  /** How long the cleanup round waited for the youngest stale record to leave the connect grace. */
  readonly graceWaitMs: number;
  /** The cleanup round: one publish to each uid. */
  readonly cleanupGone: number;
  /** Records of the churn's uids left after the cleanup round. */
  readonly recordsAfterCleanup: number;
  /** `$disconnect` invocations that failed. */
  readonly disconnectErrors: number;
}

interface PublishWindow {
  readonly id: string;
  readonly uid: string;
  readonly start: number;
  end: number;
}

/**
 * Runs the churn. The stack's `disconnect` handler is wrapped for the duration: for the abrupt
 * connections it does nothing (the lost `$disconnect`), for the others it is the real handler.
 */
export async function runChurn(stack: LocalStack, options: ChurnOptions): Promise<ChurnResult> {
  const lanes = options.lanes ?? 48;
  const uidCount = options.uids ?? 100;
  const abruptEvery = options.abruptEvery ?? 5;
  const subscribeEvery = options.subscribeEvery ?? 10;
  const sampleEvery = options.sampleEvery ?? 10;
  const random = seeded(options.seed ?? 1);
  const prefix = `churn-${Date.now().toString(36)}-`;
  const uidOf = (i: number) => `${prefix}${i % uidCount}`;
  const started = performance.now();

  // The stack loaded the real handler from this same file, under the environment it still holds.
  const file = join(dirname(fileURLToPath(import.meta.url)), '..', '..', HANDLERS.disconnect);
  const real = ((await import(/* @vite-ignore */ pathToFileURL(file).href)) as { handler: LambdaHandler })
    .handler;
  const lost = new Set<string>();
  let disconnects = 0;
  let disconnectErrors = 0;
  const restore = stack.emulator.setHandler('disconnect', async (event, context) => {
    const id = (event as { requestContext: { connectionId: string } }).requestContext.connectionId;
    if (lost.has(id)) return { statusCode: 200 };
    return real(event, context);
  });
  const offDisconnects = stack.emulator.onInvoke((record) => {
    if (record.functionName !== 'disconnect') return;
    disconnects++;
    if (record.error !== undefined) disconnectErrors++;
    for (const waiter of [...disconnectWaiters]) waiter();
  });
  const disconnectWaiters = new Set<() => void>();

  const windows: PublishWindow[] = [];
  const completed: PublishWindow[] = [];
  const completionWaiters = new Set<() => void>();
  const live = new Map<string, Client>();
  let publishing = true;
  let deliveries = 0;
  let goneDuringChurn = 0;
  let failedDeliveries = 0;
  let lostMessages = 0;
  let livePairsChecked = 0;
  let abrupt = 0;
  let subscribed = 0;
  let refused = 0;
  let published = 0;

  /** Publisher 0 serves the sampled connection that has waited longest; the others pick any uid. */
  const publisher = async (_: unknown, index: number) => {
    while (publishing) {
      const oldest = index === 0 ? live.values().next().value : undefined;
      const uid = oldest?.uid ?? uidOf(Math.floor(random() * uidCount));
      const window: PublishWindow = { id: `${prefix}p${published++}`, uid, start: performance.now(), end: 0 };
      windows.push(window);
      const answer = await publish(stack, { to: { uid }, data: { n: published }, id: window.id });
      window.end = performance.now();
      if (answer.status !== 200)
        throw new Error(`publish answered ${answer.status}: ${JSON.stringify(answer.body)}`);
      const body = answer.body as { connections: number; delivered: number; gone: number; failed: number };
      if (body.delivered + body.gone + body.failed !== body.connections) {
        throw new Error(`publish counts do not add up: ${JSON.stringify(body)}`);
      }
      deliveries += body.delivered;
      goneDuringChurn += body.gone;
      failedDeliveries += body.failed;
      completed.push(window);
      for (const waiter of [...completionWaiters]) waiter();
    }
  };

  /**
   * Resolves once a publish to `uid` that started after `since` has completed, or publishing
   * stopped. It fails only when no publish at all completed for `stallMs`: how long a sampled
   * connection queues behind the others for publisher 0 depends on the database's speed (DynamoDB
   * Local on a loaded machine is several times slower than dynalite), a stalled publisher does not.
   */
  const publishCompletedAfter = (uid: string, since: number, stallMs: number) =>
    new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const stalled = () => {
        completionWaiters.delete(check);
        reject(new Error(`no publish completed for ${stallMs} ms while ${uid} waited for one`));
      };
      const check = () => {
        clearTimeout(timer);
        if (!publishing || completed.some((w) => w.uid === uid && w.start > since)) {
          completionWaiters.delete(check);
          resolve();
          return;
        }
        timer = setTimeout(stalled, stallMs);
      };
      completionWaiters.add(check);
      check();
    });

  const lifecycle = async (i: number) => {
    const uid = uidOf(i);
    const subscribes = i % subscribeEvery === subscribeEvery - 1;
    const opened = await openSocket(
      stack,
      uid,
      await tokenFor(stack, uid, subscribes ? ['churn'] : []),
      20_000,
    );
    if ('status' in opened) {
      refused++;
      return;
    }
    const client = opened.client;
    if (subscribes) {
      const reply = await client.request({ action: 'subscribe', topic: 'churn' }, 20_000);
      if (reply.type !== 'subscribed') throw new Error(`subscribe answered ${JSON.stringify(reply)}`);
      subscribed++;
    }
    const openedAt = performance.now();
    if (i % sampleEvery === 0) {
      live.set(client.connectionId, client);
      await publishCompletedAfter(uid, openedAt, 20_000);
      live.delete(client.connectionId);
    }
    // Everything published to this uid entirely while it was open must have reached it.
    const owed = completed.filter((w) => w.uid === uid && w.start > openedAt).map((w) => w.id);
    livePairsChecked += owed.length;
    await client.waitUntil(() => owed.every((id) => client.messages.includes(id)), 5_000).catch(() => {});
    lostMessages += owed.filter((id) => !client.messages.includes(id)).length;
    if (i % abruptEvery === abruptEvery - 1) {
      abrupt++;
      lost.add(client.connectionId);
      client.ws.terminate();
      await client.closed;
    } else {
      await client.close();
    }
  };

  let result: ChurnResult;
  try {
    const publishers = Array.from({ length: options.publishers ?? 2 }, publisher);
    const churn = parallel(
      Array.from({ length: options.connections }, (_, i) => i),
      lanes,
      (i) => lifecycle(i),
    ).finally(() => {
      publishing = false;
      for (const waiter of [...completionWaiters]) waiter();
    });
    await Promise.all([churn, ...publishers]);
    const opened = options.connections - refused;
    // Every close runs $disconnect (the lost ones run the do-nothing wrapper); wait for them all.
    await within(
      new Promise<void>((resolve) => {
        const check = () => {
          if (disconnects >= opened) {
            disconnectWaiters.delete(check);
            resolve();
          }
        };
        disconnectWaiters.add(check);
        check();
      }),
      30_000,
      `${opened} $disconnect invocations (have ${disconnects})`,
    );
    const durationMs = performance.now() - started;

    const table = stack.tableNames[CONNECTIONS_TABLE.id] as string;
    const ours = (items: Record<string, unknown>[]) =>
      items.filter((item) => String(item.uid ?? item.subscriber ?? '').startsWith(prefix));
    const stale = ours(await scanAll(options.dynamodbEndpoint, table));
    const later = Date.now() + (2 * 60 + 5) * 60 * 1000 + 1000;
    const staleLiveAfterExpiry = stale.filter((item) =>
      isLive({ expiresAt: Number(item.expiresAt), connectedAt: Number(item.connectedAt) }, later),
    ).length;

    // The cleanup: one publish to each uid. A 410 for a connection younger than the connect grace
    // (30 s unless configured) does not delete it, since it may still be inside `$connect`; so the
    // round runs once every stale record is past the grace: the wait is derived from the data.
    const grace = options.connectGraceMs ?? LIMITS.connectGraceMs;
    const youngest = Math.max(0, ...stale.map((item) => Number(item.connectedAt)));
    const graceWaitMs = Math.max(0, youngest + grace + 1_000 - Date.now());
    if (graceWaitMs > 0) await new Promise((resolve) => setTimeout(resolve, graceWaitMs));
    let cleanupGone = 0;
    await parallel(
      Array.from({ length: uidCount }, (_, u) => uidOf(u)),
      8,
      async (uid) => {
        const answer = await publish(stack, { to: { uid }, data: 'cleanup', id: `${prefix}cleanup-${uid}` });
        if (answer.status !== 200) throw new Error(`cleanup publish answered ${answer.status}`);
        const body = answer.body as { connections: number; gone: number };
        if (body.connections !== body.gone)
          throw new Error(`a live connection survived: ${JSON.stringify(body)}`);
        cleanupGone += body.gone;
      },
    );
    const remaining = ours(await scanAll(options.dynamodbEndpoint, table));

    result = {
      connections: options.connections,
      abrupt,
      clean: opened - abrupt,
      subscribed,
      refusedHandshakes: refused,
      durationMs: Math.round(durationMs),
      publishes: completed.length,
      deliveries,
      goneDuringChurn,
      failedDeliveries,
      lost: lostMessages,
      livePairsChecked,
      staleRecordsAfterChurn: stale.length,
      staleLiveAfterExpiry,
      graceWaitMs: Math.round(graceWaitMs),
      cleanupGone,
      recordsAfterCleanup: remaining.length,
      disconnectErrors,
    };
  } finally {
    publishing = false;
    restore();
    offDisconnects();
    for (const client of live.values()) client.ws.terminate();
  }
  return result;
}
