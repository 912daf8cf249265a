/**
 * The cost model of docs/cost.md, computed from what the bench measured (handler durations from
 * scenario a, reads and writes per push from scenario d) and the list prices in prices.ts. Every
 * assumption the model adds is named in its output.
 */
import { LIMITS } from '../../lambdas/shared/names';
import { ablyConnectionMinutesCost, PRICES } from './prices';

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

/**
 * The cost of 1M single-connection uid pushes, by line. `stretched` prices the publish duration
 * with its CPU part stretched to the vCPU share of `publishMb` (an upper bound: the CPU measured
 * here includes the kernel's loopback work for every request); without it, at a full core's
 * speed (a lower bound).
 */
export function perMillionPushes(inputs: CostInputs, publishMb = PUBLISH_MB, stretched = true) {
  const n = 1_000_000;
  const durationMs = stretched
    ? durationAt(inputs.publishMs, inputs.publishCpuMs, publishMb)
    : inputs.publishMs;
  const lines = {
    apiGatewayMessages: n * PRICES.apiGatewayMessage.usd,
    lambdaRequests: n * PRICES.lambdaRequest.usd,
    lambdaDuration: n * lambdaSeconds(durationMs, publishMb) * PRICES.lambdaArmGbSecond.usd,
    dynamoReads: n * inputs.readUnitsPerPush * PRICES.dynamoReadUnit.usd,
  };
  const goalTotal = Object.values(lines).reduce((a, b) => a + b, 0);
  const logWrites = n * inputs.writesPerPush * PRICES.dynamoWriteUnit.usd;
  return { ...lines, durationMs, goalTotal, logWrites, withWrites: goalTotal + logWrites };
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

/** docs/cost.md's generated section. */
export function costMarkdown(inputs: CostInputs, measuredOn: string): string {
  const sizes = [PUBLISH_MB, 256, 128] as const;
  const low = sizes.map((mb) => perMillionPushes(inputs, mb, false));
  const high = sizes.map((mb) => perMillionPushes(inputs, mb, true));
  const p512 = high[0] as ReturnType<typeof perMillionPushes>;
  const p512Low = low[0] as ReturnType<typeof perMillionPushes>;
  const baselineReads = 1_000_000 * inputs.baselineReadUnitsPerPush * PRICES.dynamoReadUnit.usd;
  const fleet = fleetMonth(inputs, DEFAULT_HEARTBEAT_MINUTES);
  const heartbeats = [1, 2, 5, 9].map((h) => ({ h, ...fleetMonth(inputs, h) }));
  const minutes = CLIENTS * MONTH_MINUTES;
  const ablyFleet = PRICES.ablyStandardPackage.usd + 2 * ablyConnectionMinutesCost(minutes);
  const verdict = (total: number) => (total <= GOAL ? 'within' : 'over');
  const row = (label: string, cells: string[]) => `| ${label} | ${cells.join(' | ')} |`;
  const each = (
    list: ReturnType<typeof perMillionPushes>[],
    cell: (p: ReturnType<typeof perMillionPushes>) => string,
  ) => list.map(cell);
  return [
    `Inputs measured by \`npm run bench\` ${measuredOn}: publish handler ${inputs.publishMs} ms for a uid push to one connection with 25 ms of @connections latency, of which ${inputs.publishCpuMs} ms CPU measured inside its own process (scenario a); ${inputs.readUnitsPerPush} read units and ${inputs.writesPerPush} writes per uid push (scenario d, counted on the wire); \`$default\` ${inputs.pingMs} ms per ping, authorizer ${inputs.authorizerMs} ms, \`$connect\` ${inputs.connectMs} ms, \`$disconnect\` ${inputs.disconnectMs} ms. Each duration is priced at its memory size with its CPU part stretched by the vCPU share that size buys (1 vCPU at ${ONE_VCPU_MB.toLocaleString('en-US')} MB; one core of this machine taken as one vCPU); the route handlers' durations are all counted as CPU. Durations were measured against dynalite; AWS adds a few ms of waiting per DynamoDB call (about 5 ms for each of a push’s three calls), which adds to both bounds.`,
    '',
    '### 1M single-connection deliveries (uid pushes)',
    '',
    '| line | publish at 512 MB (deployed) | at 256 MB | at 128 MB |',
    '|---|---|---|---|',
    row(
      'API Gateway messages (1 per delivery)',
      each(high, (p) => usd(p.apiGatewayMessages)),
    ),
    row(
      'Lambda requests (1 invoke per push)',
      each(high, (p) => usd(p.lambdaRequests)),
    ),
    row(
      'Lambda duration, CPU at a full core (lower bound)',
      each(low, (p) => `${usd(p.lambdaDuration)} (${Math.ceil(p.durationMs)} ms)`),
    ),
    row(
      'Lambda duration, CPU stretched to the size’s vCPU share (upper bound)',
      each(high, (p) => `${usd(p.lambdaDuration)} (${Math.ceil(p.durationMs)} ms)`),
    ),
    row(
      `DynamoDB reads (${inputs.readUnitsPerPush} RRU per push)`,
      each(high, (p) => usd(p.dynamoReads)),
    ),
    row(
      `**total of the goal's lines**, lower bound (goal ≤ $${GOAL.toFixed(2)})`,
      each(low, (p) => `**${usd(p.goalTotal)}** (${verdict(p.goalTotal)})`),
    ),
    row(
      `**total of the goal's lines**, upper bound`,
      each(high, (p) => `**${usd(p.goalTotal)}** (${verdict(p.goalTotal)})`),
    ),
    row(
      `also billed: message-log writes (${inputs.writesPerPush} WRU per push, for resume)`,
      each(high, (p) => usd(p.logWrites)),
    ),
    row(
      'all of it, upper bound',
      each(high, (p) => usd(p.withWrites)),
    ),
    '',
    `Which bound is nearer depends on how much of the ${inputs.publishCpuMs} ms of CPU a push used here stays in AWS. A large part is the four SDK calls' HTTP work, and on this machine each request's write also runs the kernel's loopback TCP delivery to the receiving process (about a quarter of the handler’s CPU profile is \`writev\`), which a Lambda sending over the network does not pay in full. The goal is met at ${
      sizes
        .filter((_, i) => (low[i]?.goalTotal ?? Number.POSITIVE_INFINITY) <= GOAL)
        .map((mb) => `${mb} MB`)
        .join(' and ') || 'no size'
    } on the lower bound and at ${
      sizes
        .filter((_, i) => (high[i]?.goalTotal ?? Number.POSITIVE_INFINITY) <= GOAL)
        .map((mb) => `${mb} MB`)
        .join(' and ') || 'no size'
    } on the upper bound; settling it takes a measurement in AWS (the function's billed duration at each size).`,
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
    `| **this stack** (512 MB publish) | ${usd(p512Low.goalTotal)}–${usd(p512.goalTotal)} (${usd(p512Low.withWrites)}–${usd(p512.withWrites)} with log writes) | ${usd(fleet.total)} | per message, connection minute, invocation, request unit |`,
    `| AWS AppSync Events | ${usd(2e6 * PRICES.appSyncEventsOperation.usd)} (publish + delivery = 2 operations) | ${usd(minutes * PRICES.appSyncConnectionMinute.usd)} (connection minutes only${PRICES.appSyncConnectionMinute.verified ? '' : '; rate unverified for Events'}) | $1.00 / 1M operations, $0.08 / 1M connection minutes |`,
    `| AWS IoT Core (MQTT over WSS) | ${usd(2e6 * PRICES.iotMessage.usd)} (publish + delivery = 2 messages) | ${usd(minutes * PRICES.iotConnectionMinute.usd)} (pings are free) | $1.00 / 1M messages, $0.08 / 1M connection minutes |`,
    `| Ably (resource-based) | ${usd(2e6 * PRICES.ablyMessage.usd)} (publish + delivery = 2 messages) + package | ${usd(ablyFleet)} (Standard $${PRICES.ablyStandardPackage.usd} + connection and channel minutes, one channel per client) | $2.50 / 1M messages, $1.00 / 1M minutes, tiered |`,
    `| Pusher Channels | plan-priced (1M a month fits every plan's daily cap) | $${PRICES.pusherPremium.usd} (Premium: 10k connections; **unverified**) | monthly plan by peak connections and messages a day |`,
    '',
  ].join('\n');
}
