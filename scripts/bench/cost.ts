/**
 * The cost model of docs/cost.md, computed from what the bench measured (handler durations from
 * scenario a, reads and writes per push from scenario d) and the list prices in prices.ts. Every
 * assumption the model adds is named in its output. uid pushes are priced twice: one per publish
 * invocation, and in batch publishes, where one invocation's request price and round-trip wait
 * are shared by every push it carries.
 */
import { LIMITS } from '../../lambdas/shared/limits';
import { ablyConnectionMinutesCost, PRICES } from './prices';

/** What scenario a measured for a batch publish of uid pushes, each to its own uid with one connection. */
export interface BatchCostInputs {
  /** uid pushes per batch. */
  readonly size: number;
  /** Median publish-handler duration per batch, with 25 ms @connections latency. */
  readonly ms: number;
  /** CPU (ms) of the publish handler per batch, measured inside its own process. */
  readonly cpuMs: number;
}

/** What the model takes from a bench run. */
export interface CostInputs {
  /** Median publish-handler duration for a 1-connection uid push, with 25 ms @connections latency. */
  readonly publishMs: number;
  /** Median `$default` duration for a ping (used for every `$default` frame). */
  readonly pingMs: number;
  readonly authorizerMs: number;
  readonly connectMs: number;
  readonly disconnectMs: number;
  /** Read request units per uid push (scenario d). */
  readonly readUnitsPerPush: number;
  /** Items written per uid push (scenario d: the message log). */
  readonly writesPerPush: number;
  /** The Scan baseline's read units per uid push, at `baselineConnections`. */
  readonly baselineReadUnitsPerPush: number;
  readonly baselineConnections: number;
  /** CPU (ms) of the publish handler per uid push, measured inside its own process (scenario a). */
  readonly publishCpuMs: number;
  /** CPU (ms) of the publish handler per delivery of an inline fan-out (scenario a). */
  readonly fanOutCpuPerDeliveryMs: number;
  /** CPU (ms) of the shard worker per delivery (scenario c), when c ran. */
  readonly workerCpuPerDeliveryMs?: number;
  /** The batch publish probe (scenario a), when the run measured it. */
  readonly batch?: BatchCostInputs;
}

/** Deployed memory sizes (infra/push-stack.ts), arm64. */
const PUBLISH_MB = 512;
const WORKER_MB = 512;
const ROUTE_MB = 256;
/**
 * Lambda allocates CPU in proportion to memory: one vCPU's worth at 1,769 MB (AWS Lambda developer
 * guide, "Configure Lambda function memory"). The model takes one core of the bench machine as one
 * vCPU, which is an assumption: an arm64 core may be slower or faster per clock.
 */
const ONE_VCPU_MB = 1769;
/** The client library rotates a connection 5 minutes before API Gateway's 2-hour limit. */
const ROTATE_MINUTES = 115;
/** The client library's default heartbeat: half the 10-minute idle timeout, sent only when idle. */
const DEFAULT_HEARTBEAT_MINUTES = 5;
const MONTH_MINUTES = 30 * 24 * 60;
const CLIENTS = 10_000;
const GOAL = 1.45;

/**
 * The duration a handler would have at `memoryMb`: what it waits for stays, its CPU time stretches
 * by the share of a vCPU the memory buys. `wallMs` and `cpuMs` were measured on a full core.
 */
export function durationAt(wallMs: number, cpuMs: number, memoryMb: number): number {
  const stretch = Math.max(1, ONE_VCPU_MB / memoryMb);
  return wallMs + Math.min(cpuMs, wallMs) * (stretch - 1);
}

/** Deliveries per second one environment's CPU allows at `memoryMb`, at `cpuPerDeliveryMs` each. */
export function deliveriesPerSecondAt(cpuPerDeliveryMs: number, memoryMb: number): number {
  return (1000 / cpuPerDeliveryMs) * Math.min(1, memoryMb / ONE_VCPU_MB);
}

function lambdaSeconds(ms: number, memoryMb: number): number {
  // Lambda bills duration in 1 ms steps.
  return (Math.ceil(ms) / 1000) * (memoryMb / 1024);
}

function usd(value: number): string {
  if (value >= 100) return `$${value.toFixed(0)}`;
  if (value >= 1) return `$${value.toFixed(2)}`;
  return `$${value.toFixed(3)}`;
}

/** One publish invocation as measured: how many uid pushes it carries, its duration and CPU. */
interface Invocation {
  readonly pushes: number;
  readonly wallMs: number;
  readonly cpuMs: number;
}

/** 1M uid pushes, `invocation.pushes` to each publish invocation, by line. */
function perMillion(inputs: CostInputs, invocation: Invocation, publishMb: number, stretched: boolean) {
  const n = 1_000_000;
  const invokes = n / invocation.pushes;
  const durationMs = stretched
    ? durationAt(invocation.wallMs, invocation.cpuMs, publishMb)
    : invocation.wallMs;
  const lines = {
    apiGatewayMessages: n * PRICES.apiGatewayMessage.usd,
    lambdaRequests: invokes * PRICES.lambdaRequest.usd,
    // Billed per invocation, so a batch's duration is rounded up once and shared by its pushes.
    lambdaDuration: invokes * lambdaSeconds(durationMs, publishMb) * PRICES.lambdaArmGbSecond.usd,
    // Every push of a batch runs its own log append and byUid Query, as a single push does.
    dynamoReads: n * inputs.readUnitsPerPush * PRICES.dynamoReadUnit.usd,
  };
  const goalTotal = Object.values(lines).reduce((a, b) => a + b, 0);
  const logWrites = n * inputs.writesPerPush * PRICES.dynamoWriteUnit.usd;
  return { ...lines, invokes, durationMs, goalTotal, logWrites, withWrites: goalTotal + logWrites };
}

/** The cost of 1M uid pushes by line, as {@link perMillionPushes} and {@link perMillionBatchedPushes} give it. */
export type PerMillion = ReturnType<typeof perMillion>;

/**
 * The cost of 1M single-connection uid pushes, one publish invocation each, by line. `stretched`
 * prices the publish duration with its CPU part stretched to the vCPU share of `publishMb` (an
 * upper bound: the CPU measured here includes the kernel's loopback work for every request);
 * without it, at a full core's speed (a lower bound). `durationMs` is one invocation's.
 */
export function perMillionPushes(inputs: CostInputs, publishMb = PUBLISH_MB, stretched = true): PerMillion {
  const single = { pushes: 1, wallMs: inputs.publishMs, cpuMs: inputs.publishCpuMs };
  return perMillion(inputs, single, publishMb, stretched);
}

/**
 * The same 1M pushes sent in batch publishes of `batch.size`: one request per batch, and each
 * batch's duration (its CPU stretched for the upper bound, as for a single push) shared by its
 * pushes. `durationMs` is one batch's.
 *
 * @example
 * perMillionBatchedPushes(inputs, { size: 10, ms: 40, cpuMs: 30 }, 512, false).lambdaRequests // 0.02
 */
export function perMillionBatchedPushes(
  inputs: CostInputs,
  batch: BatchCostInputs,
  publishMb = PUBLISH_MB,
  stretched = true,
): PerMillion {
  return perMillion(
    inputs,
    { pushes: batch.size, wallMs: batch.ms, cpuMs: batch.cpuMs },
    publishMb,
    stretched,
  );
}

/** The monthly cost of 10k clients connected all month, idle but for heartbeats, at `heartbeatMinutes`. */
export function fleetMonth(inputs: CostInputs, heartbeatMinutes: number) {
  const minutes = CLIENTS * MONTH_MINUTES;
  const connections = minutes / ROTATE_MINUTES;
  const pings = minutes / heartbeatMinutes;
  // The route handlers' in-process durations are taken as all CPU (an upper bound: they include
  // dynalite's own work), stretched to the 256 MB share of a vCPU.
  const routeGbs = (ms: number) =>
    lambdaSeconds(durationAt(ms, ms, ROUTE_MB), ROUTE_MB) * PRICES.lambdaArmGbSecond.usd;
  // Each connection: authorizer, $connect, a resume and one subscribe on $default, $disconnect.
  // Messages: resume + resumed + subscribe + subscribed. Reads: $disconnect's consistent Query,
  // resume's consistent GetItem and Query. Writes: connect 1, subscribe 2, disconnect 2.
  const perConnection =
    4 * PRICES.apiGatewayMessage.usd +
    5 * PRICES.lambdaRequest.usd +
    routeGbs(inputs.authorizerMs) +
    routeGbs(inputs.connectMs) +
    routeGbs(inputs.disconnectMs) +
    2 * routeGbs(inputs.pingMs) +
    3 * PRICES.dynamoReadUnit.usd +
    5 * PRICES.dynamoWriteUnit.usd;
  // Each ping: ping + pong, one $default invocation, one UpdateItem (lastSeenAt, expiresAt).
  const perPing =
    2 * PRICES.apiGatewayMessage.usd +
    PRICES.lambdaRequest.usd +
    routeGbs(inputs.pingMs) +
    PRICES.dynamoWriteUnit.usd;
  const connectionMinutes = minutes * PRICES.apiGatewayConnectionMinute.usd;
  const rotations = connections * perConnection;
  const heartbeats = pings * perPing;
  return {
    minutes,
    connections,
    pings,
    connectionMinutes,
    rotations,
    heartbeats,
    total: connectionMinutes + rotations + heartbeats,
  };
}

/** What the measured CPU means for the publish function's inline fan-out and the worker's memory. */
function sizingSection(inputs: CostInputs): string[] {
  const inline = (mb: number) => deliveriesPerSecondAt(inputs.fanOutCpuPerDeliveryMs, mb);
  const threshold = LIMITS.shardThreshold;
  const share = LIMITS.rateBudget / LIMITS.workerConcurrency;
  const lines = [
    '### Sizing from the measured CPU',
    '',
    `An inline fan-out (at or below the shard threshold, ${threshold.toLocaleString('en-US')} connections) used ${inputs.fanOutCpuPerDeliveryMs} ms of CPU per delivery in the publish handler. CPU, not the 25 ms round trips (they overlap), bounds it: with that CPU stretched to the vCPU share (the upper bound above), about ${Math.round(inline(PUBLISH_MB)).toLocaleString('en-US')} deliveries/s at the deployed ${PUBLISH_MB} MB (${Math.round(inline(1024)).toLocaleString('en-US')}/s at 1,024 MB, ${Math.round(inline(ONE_VCPU_MB)).toLocaleString('en-US')}/s at ${ONE_VCPU_MB.toLocaleString('en-US')} MB), so a fan-out at the threshold takes up to ${(threshold / inline(PUBLISH_MB)).toFixed(1)} s inline. If AWS confirms that, a lower \`shardThreshold\` (or a larger \`publishMemorySize\`) hands big audiences to the workers sooner.`,
  ];
  if (inputs.workerCpuPerDeliveryMs !== undefined && Number.isFinite(inputs.workerCpuPerDeliveryMs)) {
    const needMb = share * (inputs.workerCpuPerDeliveryMs / 1000) * ONE_VCPU_MB;
    lines.push(
      '',
      `The shard worker used ${inputs.workerCpuPerDeliveryMs} ms of CPU per delivery in scenario c (shard reads and checkpoints included). Each of the ${LIMITS.workerConcurrency} workers holds ${Math.round(share).toLocaleString('en-US')}/s of the ${LIMITS.rateBudget.toLocaleString('en-US')}/s budget, which needs about ${Math.round(needMb).toLocaleString('en-US')} MB of memory for the CPU (upper bound); the deployed ${WORKER_MB.toLocaleString('en-US')} MB allows about ${Math.round(deliveriesPerSecondAt(inputs.workerCpuPerDeliveryMs, WORKER_MB)).toLocaleString('en-US')}/s per worker. A budget of 10,000/s, as in scenarios b and c, needs about ${Math.round((10_000 / LIMITS.workerConcurrency) * (inputs.workerCpuPerDeliveryMs / 1000) * ONE_VCPU_MB).toLocaleString('en-US')} MB per worker (\`workerMemorySize\`).`,
    );
  }
  return lines;
}

/** The sizes the tables price, the deployed one first. */
const SIZES = [PUBLISH_MB, 256, 128] as const;

/** `512 MB, 256 MB and 128 MB`: the sizes whose total of the goal's lines is within the goal. */
function sizesWithin(list: readonly PerMillion[]): string {
  const within = SIZES.filter((_, i) => (list[i]?.goalTotal ?? Number.POSITIVE_INFINITY) <= GOAL).map(
    (mb) => `${mb} MB`,
  );
  const last = within.pop();
  if (last === undefined) return 'no size';
  return within.length === 0 ? last : `${within.join(', ')} and ${last}`;
}

/**
 * One table of 1M uid pushes at each of {@link SIZES}: the goal's lines, their totals at both
 * bounds with the verdict, and what else is billed. `low` and `high` hold one entry per size.
 */
function pushTable(
  inputs: CostInputs,
  low: readonly PerMillion[],
  high: readonly PerMillion[],
  requestsLabel: string,
  durationUnit: string,
): string[] {
  const verdict = (total: number) => (total <= GOAL ? 'within' : 'over');
  const row = (label: string, list: readonly PerMillion[], cell: (p: PerMillion) => string) =>
    `| ${label} | ${list.map(cell).join(' | ')} |`;
  const duration = (p: PerMillion) =>
    `${usd(p.lambdaDuration)} (${Math.ceil(p.durationMs)} ms${durationUnit})`;
  return [
    `| line | publish at ${PUBLISH_MB} MB (deployed) | ${SIZES.slice(1)
      .map((mb) => `at ${mb} MB`)
      .join(' | ')} |`,
    `|---|${SIZES.map(() => '---').join('|')}|`,
    row('API Gateway messages (1 per delivery)', high, (p) => usd(p.apiGatewayMessages)),
    row(requestsLabel, high, (p) => usd(p.lambdaRequests)),
    row('Lambda duration, CPU at a full core (lower bound)', low, duration),
    row('Lambda duration, CPU stretched to the size’s vCPU share (upper bound)', high, duration),
    row(`DynamoDB reads (${inputs.readUnitsPerPush} RRU per push)`, high, (p) => usd(p.dynamoReads)),
    row(
      `**total of the goal's lines**, lower bound (goal ≤ $${GOAL.toFixed(2)})`,
      low,
      (p) => `**${usd(p.goalTotal)}** (${verdict(p.goalTotal)})`,
    ),
    row(
      `**total of the goal's lines**, upper bound`,
      high,
      (p) => `**${usd(p.goalTotal)}** (${verdict(p.goalTotal)})`,
    ),
    row(`also billed: message-log writes (${inputs.writesPerPush} WRU per push, for resume)`, high, (p) =>
      usd(p.logWrites),
    ),
    row('all of it, upper bound', high, (p) => usd(p.withWrites)),
  ];
}

/** The batched case: its table and verdict, or a line saying the run did not measure it. */
function batchSection(inputs: CostInputs): string[] {
  const batch = inputs.batch;
  if (batch === undefined) {
    return ['This run did not measure a batch publish, so the batched case is not priced.'];
  }
  const low = SIZES.map((mb) => perMillionBatchedPushes(inputs, batch, mb, false));
  const high = SIZES.map((mb) => perMillionBatchedPushes(inputs, batch, mb, true));
  return [
    `### The same 1M deliveries sent in batch publishes of ${batch.size}`,
    '',
    `One publish invocation carries ${batch.size} uid pushes (\`{"batch":[...]}\`), each to its own uid with one connection, so ${batch.size} pushes share one request and their @connections round trips overlap. The duration is one batch's, as measured in scenario a (${batch.ms} ms, ${batch.cpuMs} ms of it CPU), shared by its ${batch.size} pushes.`,
    '',
    ...pushTable(inputs, low, high, `Lambda requests (1 invoke per ${batch.size} pushes)`, ' a batch'),
    '',
    `In batches of ${batch.size} the goal is met at ${sizesWithin(low)} on the lower bound and at ${sizesWithin(high)} on the upper bound.`,
  ];
}

/** docs/cost.md's generated section. */
export function costMarkdown(inputs: CostInputs, measuredOn: string): string {
  const low = SIZES.map((mb) => perMillionPushes(inputs, mb, false));
  const high = SIZES.map((mb) => perMillionPushes(inputs, mb, true));
  const p512 = high[0] as PerMillion;
  const p512Low = low[0] as PerMillion;
  const baselineReads = 1_000_000 * inputs.baselineReadUnitsPerPush * PRICES.dynamoReadUnit.usd;
  const fleet = fleetMonth(inputs, DEFAULT_HEARTBEAT_MINUTES);
  const heartbeats = [1, 2, 5, 9].map((h) => ({ h, ...fleetMonth(inputs, h) }));
  const minutes = CLIENTS * MONTH_MINUTES;
  const ablyFleet = PRICES.ablyStandardPackage.usd + 2 * ablyConnectionMinutesCost(minutes);
  const range = (lower: PerMillion, upper: PerMillion) =>
    `${usd(lower.goalTotal)}–${usd(upper.goalTotal)} (${usd(lower.withWrites)}–${usd(upper.withWrites)} with log writes)`;
  const batchMeasured =
    inputs.batch === undefined
      ? ''
      : ` a batch publish of ${inputs.batch.size} uid pushes, each to its own uid with one connection, ${inputs.batch.ms} ms, of which ${inputs.batch.cpuMs} ms CPU (scenario a, both measured as for one push);`;
  return [
    `Inputs measured by \`npm run bench\` ${measuredOn}: publish handler ${inputs.publishMs} ms for a uid push to one connection with 25 ms of @connections latency, of which ${inputs.publishCpuMs} ms CPU measured inside its own process (scenario a);${batchMeasured} ${inputs.readUnitsPerPush} read units and ${inputs.writesPerPush} writes per uid push (scenario d, counted on the wire); \`$default\` ${inputs.pingMs} ms per ping, authorizer ${inputs.authorizerMs} ms, \`$connect\` ${inputs.connectMs} ms, \`$disconnect\` ${inputs.disconnectMs} ms. Each duration is priced at its memory size with its CPU part stretched by the vCPU share that size buys (1 vCPU at ${ONE_VCPU_MB.toLocaleString('en-US')} MB; one core of this machine taken as one vCPU); the route handlers' durations are all counted as CPU. Durations were measured against dynalite; AWS adds a few ms of waiting per DynamoDB call (about 5 ms for each of a push’s three calls), which adds to both bounds.`,
    '',
    '### 1M single-connection deliveries (uid pushes)',
    '',
    ...pushTable(inputs, low, high, 'Lambda requests (1 invoke per push)', ''),
    '',
    `Which bound is nearer depends on how much of the ${inputs.publishCpuMs} ms of CPU a push used here stays in AWS. A large part is the four SDK calls' HTTP work, and on this machine each request's write also runs the kernel's loopback TCP delivery to the receiving process (about a quarter of the handler’s CPU profile is \`writev\`), which a Lambda sending over the network does not pay in full. The goal is met at ${sizesWithin(low)} on the lower bound and at ${sizesWithin(high)} on the upper bound; settling it takes a measurement in AWS (the function's billed duration at each size).`,
    '',
    ...batchSection(inputs),
    '',
    ...sizingSection(inputs),
    '',
    `The Scan baseline would read ${inputs.baselineReadUnitsPerPush} RRU per push at ${inputs.baselineConnections.toLocaleString('en-US')} connections (one 1 MB page): ${usd(baselineReads)} per 1M pushes in reads alone, growing with the table.`,
    '',
    `### ${CLIENTS.toLocaleString('en-US')} clients connected 24/7 for 30 days`,
    '',
    `${(minutes / 1e6).toFixed(0)}M connection minutes; the client library rotates each connection after ${ROTATE_MINUTES} min (API Gateway closes at 2 h), ${Math.round(fleet.connections).toLocaleString('en-US')} connections a month, each with a resume and one subscribe; an idle client pings every ${DEFAULT_HEARTBEAT_MINUTES} min by default (API Gateway closes after 10 idle minutes, and WebSocket ping frames do not count as activity).`,
    '',
    '| heartbeat every | connection minutes | rotations (Lambda, DynamoDB, 4 messages each) | heartbeats (2 messages, 1 invoke, 1 WRU each) | month |',
    '|---|---|---|---|---|',
    ...heartbeats.map(
      (f) =>
        `| ${f.h} min${f.h === DEFAULT_HEARTBEAT_MINUTES ? ' (default)' : ''} | ${usd(f.connectionMinutes)} | ${usd(f.rotations)} | ${usd(f.heartbeats)} (${(f.pings / 1e6).toFixed(1)}M pings) | **${usd(f.total)}** |`,
    ),
    '',
    'Heartbeats only run while a client is idle: a client receiving traffic at least every heartbeat interval sends none. The handshake itself is assumed not to be a billed message (not confirmed on the pricing page).',
    '',
    '### Against managed services, same two workloads',
    '',
    '| service | 1M single-connection deliveries | 10k clients 24/7, 30 days, idle | pricing basis |',
    '|---|---|---|---|',
    `| **this stack** (${PUBLISH_MB} MB publish) | ${range(p512Low, p512)}${
      inputs.batch === undefined
        ? ''
        : `; in batches of ${inputs.batch.size}: ${range(
            perMillionBatchedPushes(inputs, inputs.batch, PUBLISH_MB, false),
            perMillionBatchedPushes(inputs, inputs.batch, PUBLISH_MB, true),
          )}`
    } | ${usd(fleet.total)} | per message, connection minute, invocation, request unit |`,
    `| AWS AppSync Events | ${usd(2e6 * PRICES.appSyncEventsOperation.usd)} (publish + delivery = 2 operations) | ${usd(minutes * PRICES.appSyncConnectionMinute.usd)} (connection minutes only${PRICES.appSyncConnectionMinute.verified ? '' : '; rate unverified for Events'}) | $1.00 / 1M operations, $0.08 / 1M connection minutes |`,
    `| AWS IoT Core (MQTT over WSS) | ${usd(2e6 * PRICES.iotMessage.usd)} (publish + delivery = 2 messages) | ${usd(minutes * PRICES.iotConnectionMinute.usd)} (pings are free) | $1.00 / 1M messages, $0.08 / 1M connection minutes |`,
    `| Ably (resource-based) | ${usd(2e6 * PRICES.ablyMessage.usd)} (publish + delivery = 2 messages) + package | ${usd(ablyFleet)} (Standard $${PRICES.ablyStandardPackage.usd} + connection and channel minutes, one channel per client) | $2.50 / 1M messages, $1.00 / 1M minutes, tiered |`,
    `| Pusher Channels | plan-priced (1M a month fits every plan's daily cap) | $${PRICES.pusherPremium.usd} (Premium: 10k connections; **unverified**) | monthly plan by peak connections and messages a day |`,
    '',
  ].join('\n');
}
