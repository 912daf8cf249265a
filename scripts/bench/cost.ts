/**
 * The cost model of docs/cost.md, computed from what the bench measured (handler durations from
 * scenario a, reads and writes per push from scenario d) and the list prices in prices.ts. Every
 * assumption the model adds is named in its output.
 */
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
}

/** Deployed memory sizes (infra/push-stack.ts): publish 512 MB, route handlers 256 MB, arm64. */
const PUBLISH_MB = 512;
const ROUTE_MB = 256;
/** The client library rotates a connection 5 minutes before API Gateway's 2-hour limit. */
const ROTATE_MINUTES = 115;
/** The client library's default heartbeat: half the 10-minute idle timeout, sent only when idle. */
const DEFAULT_HEARTBEAT_MINUTES = 5;
const MONTH_MINUTES = 30 * 24 * 60;
const CLIENTS = 10_000;
const GOAL = 1.45;

function lambdaSeconds(ms: number, memoryMb: number): number {
  // Lambda bills duration in 1 ms steps.
  return (Math.ceil(ms) / 1000) * (memoryMb / 1024);
}

function usd(value: number): string {
  if (value >= 100) return `$${value.toFixed(0)}`;
  if (value >= 1) return `$${value.toFixed(2)}`;
  return `$${value.toFixed(3)}`;
}

/** The cost of 1M single-connection uid pushes, by line. */
export function perMillionPushes(inputs: CostInputs, publishMb = PUBLISH_MB) {
  const n = 1_000_000;
  const lines = {
    apiGatewayMessages: n * PRICES.apiGatewayMessage.usd,
    lambdaRequests: n * PRICES.lambdaRequest.usd,
    lambdaDuration: n * lambdaSeconds(inputs.publishMs, publishMb) * PRICES.lambdaArmGbSecond.usd,
    dynamoReads: n * inputs.readUnitsPerPush * PRICES.dynamoReadUnit.usd,
  };
  const goalTotal = Object.values(lines).reduce((a, b) => a + b, 0);
  const logWrites = n * inputs.writesPerPush * PRICES.dynamoWriteUnit.usd;
  return { ...lines, goalTotal, logWrites, withWrites: goalTotal + logWrites };
}

/** The monthly cost of 10k clients connected all month, idle but for heartbeats, at `heartbeatMinutes`. */
export function fleetMonth(inputs: CostInputs, heartbeatMinutes: number) {
  const minutes = CLIENTS * MONTH_MINUTES;
  const connections = minutes / ROTATE_MINUTES;
  const pings = minutes / heartbeatMinutes;
  const routeGbs = (ms: number) => lambdaSeconds(ms, ROUTE_MB) * PRICES.lambdaArmGbSecond.usd;
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

/** docs/cost.md's generated section. */
export function costMarkdown(inputs: CostInputs, measuredOn: string): string {
  const p512 = perMillionPushes(inputs);
  const p256 = perMillionPushes(inputs, 256);
  const p128 = perMillionPushes(inputs, 128);
  const baselineReads = 1_000_000 * inputs.baselineReadUnitsPerPush * PRICES.dynamoReadUnit.usd;
  const fleet = fleetMonth(inputs, DEFAULT_HEARTBEAT_MINUTES);
  const heartbeats = [1, 2, 5, 9].map((h) => ({ h, ...fleetMonth(inputs, h) }));
  const minutes = CLIENTS * MONTH_MINUTES;
  const ablyFleet = PRICES.ablyStandardPackage.usd + 2 * ablyConnectionMinutesCost(minutes);
  const rows = (p: ReturnType<typeof perMillionPushes>) =>
    [p.apiGatewayMessages, p.lambdaRequests, p.lambdaDuration, p.dynamoReads, p.goalTotal].map(usd);
  const [m512, m256, m128] = [rows(p512), rows(p256), rows(p128)];
  const verdict = (total: number) => (total <= GOAL ? 'within' : 'over');
  return [
    `Inputs measured by \`npm run bench\` ${measuredOn}: publish handler ${inputs.publishMs} ms for a uid push to one connection with 25 ms of @connections latency (scenario a), ${inputs.readUnitsPerPush} read units and ${inputs.writesPerPush} writes per uid push (scenario d, counted on the wire), \`$default\` ${inputs.pingMs} ms per ping, authorizer ${inputs.authorizerMs} ms, \`$connect\` ${inputs.connectMs} ms, \`$disconnect\` ${inputs.disconnectMs} ms. Durations were measured in-process against dynalite; AWS adds a few ms per DynamoDB call, so treat duration lines as a floor.`,
    '',
    '### 1M single-connection deliveries (uid pushes)',
    '',
    '| line | publish at 512 MB (deployed) | at 256 MB | at 128 MB |',
    '|---|---|---|---|',
    `| API Gateway messages (1 per delivery) | ${m512[0]} | ${m256[0]} | ${m128[0]} |`,
    `| Lambda requests (1 invoke per push) | ${m512[1]} | ${m256[1]} | ${m128[1]} |`,
    `| Lambda duration (${Math.ceil(inputs.publishMs)} ms, arm64) | ${m512[2]} | ${m256[2]} | ${m128[2]} |`,
    `| DynamoDB reads (${inputs.readUnitsPerPush} RRU per push) | ${m512[3]} | ${m256[3]} | ${m128[3]} |`,
    `| **total of the goal's lines** (goal ≤ $${GOAL.toFixed(2)}) | **${m512[4]}** (${verdict(p512.goalTotal)}) | **${m256[4]}** (${verdict(p256.goalTotal)}) | **${m128[4]}** (${verdict(p128.goalTotal)}) |`,
    `| also billed: message-log writes (${inputs.writesPerPush} WRU per push, for resume) | ${usd(p512.logWrites)} | ${usd(p256.logWrites)} | ${usd(p128.logWrites)} |`,
    `| all of it | ${usd(p512.withWrites)} | ${usd(p256.withWrites)} | ${usd(p128.withWrites)} |`,
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
    `| **this stack** (512 MB publish) | ${usd(p512.goalTotal)} (${usd(p512.withWrites)} with log writes) | ${usd(fleet.total)} | per message, connection minute, invocation, request unit |`,
    `| AWS AppSync Events | ${usd(2e6 * PRICES.appSyncEventsOperation.usd)} (publish + delivery = 2 operations) | ${usd(minutes * PRICES.appSyncConnectionMinute.usd)} (connection minutes only${PRICES.appSyncConnectionMinute.verified ? '' : '; rate unverified for Events'}) | $1.00 / 1M operations, $0.08 / 1M connection minutes |`,
    `| AWS IoT Core (MQTT over WSS) | ${usd(2e6 * PRICES.iotMessage.usd)} (publish + delivery = 2 messages) | ${usd(minutes * PRICES.iotConnectionMinute.usd)} (pings are free) | $1.00 / 1M messages, $0.08 / 1M connection minutes |`,
    `| Ably (resource-based) | ${usd(2e6 * PRICES.ablyMessage.usd)} (publish + delivery = 2 messages) + package | ${usd(ablyFleet)} (Standard $${PRICES.ablyStandardPackage.usd} + connection and channel minutes, one channel per client) | $2.50 / 1M messages, $1.00 / 1M minutes, tiered |`,
    `| Pusher Channels | plan-priced (1M a month fits every plan's daily cap) | $${PRICES.pusherPremium.usd} (Premium: 10k connections; **unverified**) | monthly plan by peak connections and messages a day |`,
    '',
  ].join('\n');
}
