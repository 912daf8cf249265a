/**
 * `npm run soak [-- options]`: the hardening tests at a larger scale than CI runs them, bounded in
 * count and in time. Phases (each on its own local stack over its own DynamoDB: dynalite, or a
 * private database on the DynamoDB Local at `DYNAMODB_ENDPOINT`):
 *
 *   churn        connects and disconnects, every fifth abrupt with its $disconnect lost, publishes
 *                throughout; then one publish per uid must leave 0 records of dead connections
 *   management   @connections answering 10% 429s and 5% 500s: every message to every live
 *                connection, exact publish counts
 *   dynamo       DynamoDB throttling 35% and failing 10% of requests: every connect, ping and
 *                publish a success or a reported error, and the table agrees with the clients
 *   fuzz         generated frames to $default and bodies to POST /publish, the parsers as oracle
 *
 * Options: --churn N (20000) --clients N (300) --publishes N (100) --handshakes N (600)
 * --fuzz N (20000) --only a,b --deadline SECONDS (900). Prints one JSON line of figures per
 * phase, writes them all to test-artifacts/hardening/soak.<dynamo>.json, and exits 1 if any check
 * failed, 2 on bad arguments, 3 when the deadline passed.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

// Before any handler module loads: the handlers log and emit metrics per invocation.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { expectedPublishAnswer, expectedReply, frameText, publishBody, samples } = await import(
  '../test/hardening/arbitraries'
);
const { sharedDynamoEndpoint } = await import('../test/local/backing-dynamo');
const { runChurn } = await import('../test/hardening/churn');
const helpers = await import('../test/hardening/helpers');
const {
  openClient,
  openSocket,
  parallel,
  publish,
  scanAll,
  seeded,
  snapshot,
  startHardeningStack,
  tokenFor,
} = helpers;
type Client = InstanceType<typeof helpers.Client>;
const { CONNECTIONS_TABLE } = await import('../lambdas/shared/tables');
const { ENV } = await import('../lambdas/shared/env');

const USAGE =
  'usage: npm run soak -- [--churn N] [--clients N] [--publishes N] [--handshakes N] [--fuzz N] ' +
  '[--only churn,management,dynamo,fuzz] [--deadline SECONDS]';

function parse() {
  const { values } = parseArgs({
    options: {
      churn: { type: 'string', default: '20000' },
      clients: { type: 'string', default: '300' },
      publishes: { type: 'string', default: '100' },
      handshakes: { type: 'string', default: '600' },
      fuzz: { type: 'string', default: '20000' },
      only: { type: 'string', default: 'churn,management,dynamo,fuzz' },
      deadline: { type: 'string', default: '900' },
    },
    strict: true,
  });
  const count = (name: keyof typeof values) => {
    const n = Number(values[name]);
    if (!Number.isSafeInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const phases = String(values.only).split(',');
  for (const phase of phases) {
    if (!['churn', 'management', 'dynamo', 'fuzz'].includes(phase)) throw new Error(`unknown phase ${phase}`);
  }
  return {
    churn: count('churn'),
    clients: count('clients'),
    publishes: count('publishes'),
    handshakes: count('handshakes'),
    fuzz: count('fuzz'),
    deadlineMs: count('deadline') * 1000,
    phases,
  };
}

let options: ReturnType<typeof parse>;
try {
  options = parse();
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n${USAGE}\n`);
  process.exit(2);
}

type Figures = Record<string, unknown>;
/** A phase's figures and the checks that failed (empty when it passed). */
interface PhaseResult {
  readonly figures: Figures;
  readonly failures: string[];
}

function check(failures: string[], ok: boolean, what: string): void {
  if (!ok) failures.push(what);
}

async function churnPhase(): Promise<PhaseResult> {
  const h = await startHardeningStack();
  try {
    const result = await runChurn(h.stack, {
      connections: options.churn,
      lanes: 64,
      dynamodbEndpoint: h.directEndpoint,
    });
    const failures: string[] = [];
    check(failures, result.refusedHandshakes === 0, `${result.refusedHandshakes} handshakes refused`);
    check(failures, result.lost === 0, `${result.lost} messages lost`);
    check(failures, result.failedDeliveries === 0, `${result.failedDeliveries} deliveries failed`);
    check(failures, result.disconnectErrors === 0, `${result.disconnectErrors} $disconnect errors`);
    check(
      failures,
      result.staleLiveAfterExpiry === 0,
      `${result.staleLiveAfterExpiry} stale records outlive the expiry rule`,
    );
    check(
      failures,
      result.recordsAfterCleanup === 0,
      `${result.recordsAfterCleanup} records left after the cleanup`,
    );
    return { figures: { ...result }, failures };
  } finally {
    await h.stop();
  }
}

async function managementPhase(): Promise<PhaseResult> {
  const h = await startHardeningStack({ handlerEnv: { [ENV.sendAttempts]: '8' } });
  const stack = h.stack;
  const clients: Client[] = [];
  const failures: string[] = [];
  try {
    const uids = Math.max(1, Math.floor(options.clients / 4));
    await parallel(
      Array.from({ length: options.clients }, (_, i) => i),
      32,
      async (i) => {
        clients.push(await openClient(stack, `soak-mf-${i % uids}`));
      },
    );
    const expected = new Map<Client, string[]>(clients.map((c) => [c, []]));
    const random = seeded(3);
    const plan = Array.from({ length: options.publishes }, (_, n) => {
      const roll = random();
      const id = `soak-mf-msg-${n}`;
      if (roll < 0.5) {
        const uid = `soak-mf-${Math.floor(random() * uids)}`;
        return { id, body: { to: { uid }, data: n, id }, targets: clients.filter((c) => c.uid === uid) };
      }
      return { id, body: { to: { all: true }, data: n, id }, targets: clients };
    });
    for (const p of plan) for (const target of p.targets) expected.get(target)?.push(p.id);
    const before = stack.emulator.stats.management;
    stack.emulator.faults.management = { throttleRate: 0.1, errorRate: 0.05, random: seeded(7) };
    const results: Figures[] = [];
    try {
      await parallel(plan, 4, async (p, i) => {
        const answer = await publish(stack, p.body);
        results[i] = { status: answer.status, ...answer.body };
      });
    } finally {
      stack.emulator.faults.management = undefined;
    }
    plan.forEach((p, i) => {
      const n = p.targets.length;
      const got = results[i] as Figures;
      const want = {
        status: 200,
        id: p.id,
        connections: n,
        delivered: n,
        gone: 0,
        failed: 0,
        stored: n === 0 ? 1 : 0,
      };
      const ok =
        got.status === 200 &&
        got.connections === n &&
        got.delivered === n &&
        got.failed === 0 &&
        got.gone === 0;
      check(failures, ok, `publish ${p.id}: ${JSON.stringify(got)} instead of ${JSON.stringify(want)}`);
    });
    const owed = (c: Client) => expected.get(c) ?? [];
    let missing = 0;
    await Promise.all(
      clients.map((c) =>
        c
          .waitUntil(() => owed(c).every((id) => c.messages.includes(id)), 60_000)
          .catch(() => {
            missing += owed(c).filter((id) => !c.messages.includes(id)).length;
          }),
      ),
    );
    const after = stack.emulator.stats.management;
    // A marker sent with the switch off is the last frame each socket gets: nothing is in flight.
    await publish(stack, { to: { all: true }, data: 'marker', id: 'soak-mf-marker' });
    await Promise.all(
      clients.map((c) => c.waitUntil(() => c.messages.includes('soak-mf-marker'), 60_000).catch(() => {})),
    );
    let foreign = 0;
    let duplicates = 0;
    let frames = 0;
    for (const c of clients) {
      const got = c.messages.filter((id) => id !== 'soak-mf-marker');
      const want = new Set(owed(c));
      foreign += got.filter((id) => !want.has(id)).length;
      duplicates += got.length - new Set(got).size;
      frames += got.length;
    }
    check(failures, missing === 0, `${missing} messages missing`);
    check(failures, foreign === 0, `${foreign} messages reached a connection they were not for`);
    const deliveries = plan.reduce((sum, p) => sum + p.targets.length, 0);
    const injected429 = after.injectedThrottles - before.injectedThrottles;
    const injected500 = after.injectedErrors - before.injectedErrors;
    check(
      failures,
      after.requests - before.requests === frames + injected429 + injected500,
      'posts are not frames sent plus injected faults',
    );
    return {
      figures: {
        clients: clients.length,
        publishes: plan.length,
        deliveries,
        posts: after.requests - before.requests,
        injected429,
        injected500,
        missing,
        foreign,
        duplicatesSameId: duplicates,
      },
      failures,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await h.stop();
  }
}

async function dynamoPhase(): Promise<PhaseResult> {
  const h = await startHardeningStack({ dynamoFaults: { throttleRate: 0.35, errorRate: 0.1, delayMs: 5 } });
  const stack = h.stack;
  const proxy = h.proxy;
  const failures: string[] = [];
  const opened: Client[] = [];
  try {
    const uids = Math.max(1, Math.floor(options.handshakes / 5));
    let refused = 0;
    await parallel(
      Array.from({ length: options.handshakes }, (_, i) => `soak-df-${i % uids}`),
      24,
      async (uid) => {
        const outcome = await openSocket(stack, uid, await tokenFor(stack, uid), 60_000);
        if ('client' in outcome) opened.push(outcome.client);
        else {
          check(failures, outcome.status === 500, `a handshake answered ${outcome.status}`);
          refused++;
        }
      },
    );
    const pings = await Promise.all(opened.map((c) => c.request({ action: 'ping' }, 60_000)));
    const publishes = await Promise.all(
      Array.from({ length: uids }, (_, u) =>
        publish(stack, { to: { uid: `soak-df-${u}` }, data: u, id: `soak-df-msg-${u}` }),
      ),
    );
    const stats = proxy?.stats;
    if (proxy !== undefined) Object.assign(proxy.faults, { throttleRate: 0, errorRate: 0, delayMs: 0 });
    for (const ping of pings) {
      const ok =
        ping.type === 'pong' ||
        (ping.type === 'error' && ['throttled', 'unavailable'].includes(String(ping.code)));
      check(failures, ok, `a ping answered ${JSON.stringify(ping)}`);
    }
    const live = new Set(opened.map((c) => c.connectionId));
    const items = await scanAll(h.directEndpoint, stack.tableNames[CONNECTIONS_TABLE.id] as string);
    const stored = new Set(
      items.filter((i) => String(i.uid).startsWith('soak-df-')).map((i) => String(i.connectionId)),
    );
    check(
      failures,
      stored.size === live.size && [...live].every((id) => stored.has(id)),
      'the table does not match the open sockets',
    );
    let publish500 = 0;
    const delivered = new Set<string>();
    publishes.forEach((answer, u) => {
      const n = opened.filter((c) => c.uid === `soak-df-${u}`).length;
      if (answer.status === 200) {
        check(
          failures,
          answer.body.connections === n && answer.body.delivered === n,
          `publish ${u}: ${JSON.stringify(answer.body)}`,
        );
        delivered.add(`soak-df-msg-${u}`);
      } else {
        publish500++;
        check(
          failures,
          ['throttled', 'unavailable'].includes(String(answer.body.error?.code)),
          `publish ${u}: ${JSON.stringify(answer.body)}`,
        );
      }
    });
    let wrong = 0;
    for (const c of opened) {
      const id = `soak-df-msg-${c.uid.slice('soak-df-'.length)}`;
      const want = delivered.has(id) ? [id] : [];
      await c.waitForMessages(want.length, 30_000).catch(() => {});
      if (JSON.stringify(c.messages) !== JSON.stringify(want)) wrong++;
    }
    check(failures, wrong === 0, `${wrong} clients did not get exactly their message`);
    return {
      figures: {
        requests: stats?.requests,
        throttled: stats?.throttled,
        errors500: stats?.errors,
        handshakes: options.handshakes,
        opened: opened.length,
        refused500: refused,
        pingErrors: pings.filter((p) => p.type !== 'pong').length,
        publishes: publishes.length,
        publish500,
        silentlyDropped: wrong,
      },
      failures,
    };
  } finally {
    await Promise.all(opened.map((c) => c.close().catch(() => {})));
    await h.stop();
  }
}

async function fuzzPhase(): Promise<PhaseResult> {
  const h = await startHardeningStack();
  const failures: string[] = [];
  const clients: Client[] = [];
  try {
    for (let i = 0; i < 8; i++)
      clients.push(await openClient(h.stack, `soak-fuzz-${i}-3f9c1e`, ['granted-3f9c1e']));
    const table = h.stack.tableNames[CONNECTIONS_TABLE.id] as string;
    const strip = (lines: string[]) =>
      lines
        .map((line) => {
          const item = JSON.parse(line) as Record<string, unknown>;
          delete item.lastSeenAt;
          delete item.expiresAt;
          return JSON.stringify(item);
        })
        .sort();
    const before = await snapshot(h.directEndpoint, table);
    const frames = samples(frameText, options.fuzz, Date.now() % 100_000);
    let frameMismatches = 0;
    await parallel(clients, clients.length, async (client, lane) => {
      for (let i = lane; i < frames.length; i += clients.length) {
        const text = frames[i] as string;
        const { ts: _ts, ...reply } = await client.request(text, 30_000);
        if (JSON.stringify(reply) !== JSON.stringify(expectedReply(text))) frameMismatches++;
      }
    });
    const bodies = samples(publishBody, Math.round(options.fuzz * 0.75), (Date.now() + 1) % 100_000);
    let bodyMismatches = 0;
    await parallel(bodies, 8, async (bytes) => {
      const answer = await publish(h.stack, bytes);
      const expected = expectedPublishAnswer(bytes);
      const ok =
        expected === undefined
          ? answer.status === 200 || (answer.status >= 400 && answer.body.error?.code !== 'internal')
          : answer.status === expected.status &&
            JSON.stringify(answer.body) === JSON.stringify(expected.body);
      if (!ok) bodyMismatches++;
    });
    const after = await snapshot(h.directEndpoint, table);
    check(failures, frameMismatches === 0, `${frameMismatches} frames answered other than the parser says`);
    check(failures, bodyMismatches === 0, `${bodyMismatches} bodies answered other than the parser says`);
    check(
      failures,
      JSON.stringify(strip(after)) === JSON.stringify(strip(before)),
      'the connections table changed',
    );
    check(failures, ({} as Record<string, unknown>).polluted === undefined, 'Object.prototype was polluted');
    return {
      figures: { frames: frames.length, bodies: bodies.length, frameMismatches, bodyMismatches },
      failures,
    };
  } finally {
    await Promise.all(clients.map((c) => c.close().catch(() => {})));
    await h.stop();
  }
}

const PHASES: Record<string, () => Promise<PhaseResult>> = {
  churn: churnPhase,
  management: managementPhase,
  dynamo: dynamoPhase,
  fuzz: fuzzPhase,
};

const dynamo = sharedDynamoEndpoint() === undefined ? 'dynalite' : 'dynamodb-local';
const deadline = setTimeout(() => {
  process.stderr.write(`soak: deadline of ${options.deadlineMs / 1000} s passed\n`);
  process.exit(3);
}, options.deadlineMs);
deadline.unref();

const report: Record<string, unknown> = { dynamo, at: new Date().toISOString(), options };
let failed = false;
for (const phase of options.phases) {
  const started = performance.now();
  const run = PHASES[phase] as () => Promise<PhaseResult>;
  let result: PhaseResult;
  try {
    result = await run();
  } catch (error) {
    result = { figures: {}, failures: [error instanceof Error ? error.message : String(error)] };
  }
  const line = { phase, seconds: Math.round((performance.now() - started) / 100) / 10, ...result };
  process.stdout.write(`${JSON.stringify(line)}\n`);
  report[phase] = line;
  if (result.failures.length > 0) failed = true;
}
mkdirSync('test-artifacts/hardening', { recursive: true });
writeFileSync(`test-artifacts/hardening/soak.${dynamo}.json`, `${JSON.stringify(report, null, 2)}\n`);
process.stdout.write(`soak ${failed ? 'FAILED' : 'passed'} (${dynamo})\n`);
process.exit(failed ? 1 : 0);
