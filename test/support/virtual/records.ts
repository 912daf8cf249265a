/**
 * Writes virtual connections: connections with DynamoDB records exactly as
 * `$connect` and subscribe write them (the real `DynamoConnectionStore` builds every item, see
 * item-recorder.ts) and an emulator entry that counts deliveries instead of owning a socket.
 * Records go out in BatchWriteItem requests of 25, a few at a time, because the store writes one
 * item per request and 100k connections would otherwise take minutes.
 */
import { randomBytes } from 'node:crypto';
import { BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoConnectionStore } from '../../../lambdas/adapters/dynamo-store';
import { allowResult } from '../../../lambdas/core/auth-context';
import { expiresAtFor } from '../../../lambdas/core/expiry';
import { forEachBounded } from '../../../lambdas/core/pool';
import { shardOf } from '../../../lambdas/core/shard';
import { isValidTopic } from '../../../lambdas/core/topics';
import { LIMITS } from '../../../lambdas/shared/limits';
import { QUOTAS } from '../../../lambdas/shared/quotas';
import { CONNECTIONS_TABLE } from '../../../lambdas/shared/tables';
import { evaluateAuthorizerResult } from '../../../local/emulator/authorizer-result';
import { connectMethodArn } from '../../../local/emulator/events';
import type { VirtualConnections } from './connections';
import { ItemRecorder } from './item-recorder';

/** Options for `addVirtualConnections`. */
export interface VirtualConnectionOptions {
  /**
   * The uid of each connection: one for all, or one per index (0-based within this call).
   * @default a uid of its own for each, `virtual-<n>`
   */
  readonly uid?: string | ((index: number) => string);
  /** Topics every connection is granted and subscribed to, as after `subscribe` frames. @default none */
  readonly topics?: readonly string[];
  /**
   * How many shards the connections spread over, evenly: shards 0 to `shardSpread - 1` get
   * `n / shardSpread` connections each (the first ones one more when it does not divide).
   * @default LIMITS.shards (every shard)
   */
  readonly shardSpread?: number;
}

/** What building virtual connections needs from the stack. */
export interface VirtualRecordsDeps {
  /** The registry the stack posts to (attached with `attachSocketless`). */
  readonly connections: VirtualConnections;
  readonly stage: string;
  readonly apiId: string;
  readonly doc: DynamoDBDocumentClient;
  readonly tableName: string;
  readonly region: string;
  readonly accountId: string;
  /** `127.0.0.1:PORT`, the `domainName` of their events. */
  readonly domainName: string;
}

/** BatchWriteItem requests in flight at once. */
const WRITE_CONCURRENCY = 8;
const BATCH = 25;
const MAX_UNPROCESSED_ROUNDS = 10;
const USER_AGENT = 'push-local-virtual-connection';

let uidCounter = 0;

/** Ids shaped like API Gateway's (see local/emulator/ids.ts), cut from one random pool for speed. */
function* gatewayIds(): Generator<string> {
  for (;;) {
    const pool = randomBytes(11 * 4096);
    for (let i = 0; i < pool.length; i += 11) yield `${pool.subarray(i, i + 11).toString('base64url')}=`;
  }
}

/** A fresh id in `shard`: about `LIMITS.shards` draws per id, cheap next to writing its records. */
function allocateId(ids: Iterator<string>, shard: number, taken: (id: string) => boolean): string {
  for (;;) {
    const id = ids.next().value as string;
    if (shardOf(id) === shard && !taken(id)) return id;
  }
}

function checkOptions(count: number, options: VirtualConnectionOptions): void {
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError(`count must be a non-negative integer, got ${count}`);
  const spread = options.shardSpread ?? LIMITS.shards;
  if (!Number.isInteger(spread) || spread < 1 || spread > LIMITS.shards)
    throw new RangeError(`shardSpread must be an integer from 1 to ${LIMITS.shards}, got ${spread}`);
  for (const topic of options.topics ?? []) {
    if (!isValidTopic(topic)) throw new RangeError(`invalid topic ${JSON.stringify(topic)}`);
  }
}

async function batchWrite(doc: DynamoDBDocumentClient, tableName: string, items: Record<string, unknown>[]) {
  const batches: Record<string, unknown>[][] = [];
  for (let i = 0; i < items.length; i += BATCH) batches.push(items.slice(i, i + BATCH));
  await forEachBounded(batches, WRITE_CONCURRENCY, async (batch) => {
    let requests = batch.map((Item) => ({ PutRequest: { Item } }));
    for (let round = 0; requests.length > 0; round++) {
      if (round >= MAX_UNPROCESSED_ROUNDS)
        throw new Error(`DynamoDB left ${requests.length} virtual connection records unprocessed`);
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** round));
      const out = await doc.send(new BatchWriteCommand({ RequestItems: { [tableName]: requests } }));
      requests = (out.UnprocessedItems?.[tableName] ?? []) as typeof requests;
    }
  });
}

/**
 * Adds `count` virtual connections and resolves to their ids once their records are written.
 *
 * @example
 * const ids = await addVirtualConnections(deps, 1000, { topics: ['orders'], shardSpread: 4 });
 */
export async function addVirtualConnections(
  deps: VirtualRecordsDeps,
  count: number,
  options: VirtualConnectionOptions = {},
): Promise<string[]> {
  checkOptions(count, options);
  const { connections } = deps;
  const topics = [...new Set(options.topics ?? [])];
  const spread = options.shardSpread ?? LIMITS.shards;
  const candidates = gatewayIds();
  const ids: string[] = [];
  const recorder = new ItemRecorder(CONNECTIONS_TABLE);
  const store = new DynamoConnectionStore(recorder.asDocumentClient(), deps.tableName);
  const now = Date.now();
  const expiresAt = expiresAtFor(now);
  const uidOf =
    typeof options.uid === 'function'
      ? options.uid
      : options.uid === undefined
        ? () => `virtual-${++uidCounter}`
        : () => options.uid as string;

  for (let index = 0; index < count; index++) {
    const uid = uidOf(index);
    // Round robin over the shards, so each gets its even share.
    const shard = index % spread;
    const taken = (id: string) => connections.get(id) !== undefined;
    const connectionId = allocateId(candidates, shard, taken);
    ids.push(connectionId);
    const identity = {
      connectionId,
      connectedAt: now,
      domainName: deps.domainName,
      stage: deps.stage,
      apiId: deps.apiId,
      sourceIp: '127.0.0.1',
      userAgent: USER_AGENT,
    };
    // The context every later route would see, made by the real authorizer's own answer.
    const methodArn = connectMethodArn(identity, deps.region, deps.accountId);
    const claims = { uid, topics, exp: Math.floor(now / 1000) + QUOTAS.maxConnectionSeconds };
    const outcome = evaluateAuthorizerResult(allowResult(claims, methodArn), methodArn, 0);
    if (outcome.kind !== 'allow')
      throw new Error(`the authorizer's answer for ${uid} was refused: ${outcome.reason}`);
    connections.register(identity, outcome.context);

    await store.put({
      connectionId,
      uid,
      shard,
      connectedAt: now,
      lastSeenAt: now,
      expiresAt,
      grants: topics,
      tokenExp: claims.exp,
      sourceIp: identity.sourceIp,
      userAgent: USER_AGENT,
    });
    for (const topic of topics) {
      await store.subscribe(
        { connectionId, topic, uid, shard, connectedAt: now, expiresAt, tokenExp: claims.exp },
        now,
        LIMITS.maxSubscriptions,
      );
    }
  }
  await batchWrite(deps.doc, deps.tableName, recorder.take());
  return ids;
}
