/**
 * List prices the cost model uses, each with where it was read and how sure we are. US East
 * (N. Virginia), USD, before free tiers and savings plans. `verified` is false where the figure
 * comes from a third party's transcription or a page that states it for a neighbouring product;
 * docs/cost.md says so next to every such number.
 */

/** One list price. */
export interface Price {
  /** Dollars per `unit`. */
  readonly usd: number;
  readonly unit: string;
  readonly source: string;
  /** When the source says it was true (publication or effective date), or when it was read. */
  readonly asOf: string;
  readonly verified: boolean;
  readonly note?: string;
}

const MILLION = 1_000_000;

/** The prices, by what they price. */
export const PRICES = {
  apiGatewayMessage: {
    usd: 1.0 / MILLION,
    unit: 'WebSocket message, sent or received (first 1 billion a month; metered in 32 KB units)',
    source: 'https://aws.amazon.com/api-gateway/pricing/',
    asOf: '2026-09-20 (page transcription in api-evangelist/amazon-web-services plans/amazon-web-services-plans-pricing.yml)',
    verified: true,
    note: 'the page renders its rate table from tokens; the figure is from its own worked WebSocket example',
  },
  apiGatewayConnectionMinute: {
    usd: 0.25 / MILLION,
    unit: 'WebSocket connection minute',
    source: 'https://aws.amazon.com/api-gateway/pricing/',
    asOf: '2026-09-20 (same transcription)',
    verified: true,
  },
  lambdaRequest: {
    usd: 0.2 / MILLION,
    unit: 'Lambda request',
    source: 'https://aws.amazon.com/lambda/pricing/',
    asOf: 'read 2026-11-22 (stored copies of the page and of guides quoting it)',
    verified: true,
  },
  lambdaArmGbSecond: {
    usd: 0.0000133334,
    unit: 'GB-second, arm64 (first 7.5 billion GB-s a month)',
    source: 'https://aws.amazon.com/lambda/pricing/',
    asOf: 'read 2026-11-22 (stored copies quoting it)',
    verified: true,
    note: 'the stack deploys every function on arm64 (infra/push-function.ts)',
  },
  dynamoReadUnit: {
    usd: 0.125 / MILLION,
    unit: 'on-demand read request unit',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    asOf: '2024-11-01 (the 50 % on-demand price cut), read 2026-11-22',
    verified: false,
    note: 'the stored AWS page shows the unit definitions but not the figure; the figure is from airbyte.com/data-engineering-resources/dynamodb-pricing (July 2025)',
  },
  dynamoWriteUnit: {
    usd: 0.625 / MILLION,
    unit: 'on-demand write request unit',
    source: 'https://aws.amazon.com/dynamodb/pricing/on-demand/',
    asOf: '2024-11-01, read 2026-11-22',
    verified: false,
    note: 'as for read units',
  },
  appSyncEventsOperation: {
    usd: 1.0 / MILLION,
    unit: 'AppSync Events API operation (connect, subscribe, each inbound and each outbound message)',
    source:
      'AWS Price List (AWSAppSync offer, "$1 per million Event API operations"), mirrored at huggingface.co/datasets/labofsahil/aws-pricing-dataset',
    asOf: 'effective 2024-09-01',
    verified: true,
    note: 'the row read is EU (Ireland); US East assumed equal',
  },
  appSyncConnectionMinute: {
    usd: 0.08 / MILLION,
    unit: 'AppSync connection minute',
    source: 'https://aws.amazon.com/appsync/pricing/',
    asOf: 'read 2026-11-22 (stored copy)',
    verified: false,
    note: 'the stored page states it for AppSync GraphQL real-time; not seen stated for Event APIs',
  },
  iotConnectionMinute: {
    usd: 0.08 / MILLION,
    unit: 'IoT Core minute of connection',
    source: 'https://aws.amazon.com/iot-core/pricing/',
    asOf: '2026-09-20 (page transcription in api-evangelist/amazon-iot-core)',
    verified: true,
    note: "from the page's worked example (Europe, Ireland); MQTT PINGREQ/PINGRESP are free",
  },
  iotMessage: {
    usd: 1.0 / MILLION,
    unit: 'IoT Core message, 5 KB units (first 1 billion a month)',
    source: 'https://aws.amazon.com/iot-core/pricing/',
    asOf: '2026-09-20 (same transcription)',
    verified: true,
  },
  ablyMessage: {
    usd: 2.5 / MILLION,
    unit: 'Ably message, published or delivered (first 50 million a month)',
    source: 'https://ably.com/docs/platform/pricing (ably/docs src/pages/docs/platform/pricing/index.mdx)',
    asOf: 'read 2026-11-22',
    verified: true,
    note: 'resource-based pricing; Ably now prices new accounts by monthly active users, a rate not found',
  },
  ablyConnectionMinute: {
    usd: 1.0 / MILLION,
    unit: 'Ably connection minute (first 10 million; $0.95 next 90 million; $0.85 next 900 million)',
    source: 'https://ably.com/docs/platform/pricing',
    asOf: 'read 2026-11-22',
    verified: true,
  },
  ablyStandardPackage: {
    usd: 29,
    unit: 'Ably Standard package, per month (10,000 concurrent connections)',
    source: 'https://ably.com/docs/pricing/standard',
    asOf: 'read 2026-11-22',
    verified: false,
    note: 'one stored version of the docs says $39',
  },
  pusherPremium: {
    usd: 499,
    unit: 'Pusher Channels Premium plan, per month (10,000 connections, 20 million messages a day)',
    source: 'https://pusher.com/channels/pricing',
    asOf: '2026-05-08 (third-party transcription, api-evangelist/pusher plans/pusher-plans-pricing.yml)',
    verified: false,
    note: 'could not be read from pusher.com itself; the transcription marks itself generated, not harvested',
  },
} as const satisfies Record<string, Price>;

/** Ably's connection-minute tiers: cost of `minutes` in a month. */
export function ablyConnectionMinutesCost(minutes: number): number {
  const tiers: [number, number][] = [
    [10e6, 1.0],
    [90e6, 0.95],
    [900e6, 0.85],
    [4e9, 0.75],
    [Number.POSITIVE_INFINITY, 0.65],
  ];
  let left = minutes;
  let cost = 0;
  for (const [size, perMillion] of tiers) {
    const used = Math.min(left, size);
    cost += (used / MILLION) * perMillion;
    left -= used;
    if (left <= 0) break;
  }
  return cost;
}
