import {
  type AttributeValue,
  QueryCommand as ItemQueryCommand,
  type QueryCommandInput as ItemQueryInput,
} from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { fullJitterDelay, realSleep } from '../core/backoff';
import { expiresAtFor, isLive } from '../core/expiry';
import type {
  ConnectionDetails,
  ConnectionRecord,
  ConnectionStore,
  ReplayBudget,
  ReplayStart,
  ShardAudience,
  ShardPage,
  ShardRead,
  SubscriptionRecord,
  Target,
} from '../core/ports';
import { GoneError, LimitExceededError, ThrottledError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { ATTR, INDEX, RESUME_COUNT_KEY, SK } from '../shared/tables';
import { conditionalWrite, dynamoCall, type ItemQuerySender, queryEach, queryEachItem } from './dynamo';
import type { DynamoSender } from './dynamo-http';

/** Options for {@link DynamoConnectionStore}. */
export interface DynamoConnectionStoreOptions {
  /** Attempts to drain `UnprocessedItems` of a batch delete. @default 5 */
  readonly batchAttempts?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * The low-level client the index reads go through (a uid's connections, a topic's, a shard's):
   * every push makes one, so they skip the document client and its SDK middleware, and unmarshal
   * the few attributes they read by hand. Give it the hot-path client (`dynamoClientFromEnv`).
   * @default the document client, which sends the same low-level Query through the client it wraps
   */
  readonly reads?: DynamoSender;
}

/**
 * {@link ConnectionStore} on one DynamoDB table: an item collection per connection id
 * (`sk = "conn"` for the connection, `sk = "topic#<name>"` per subscription) and sparse GSIs
 * by uid, by topic+shard and by shard. The document client is injected.
 */
export class DynamoConnectionStore implements ConnectionStore {
  readonly #doc: DynamoDBDocumentClient;
  readonly #reads: ItemQuerySender;
  readonly #table: string;
  readonly #batchAttempts: number;
  readonly #sleep: (ms: number) => Promise<void>;

  constructor(doc: DynamoDBDocumentClient, tableName: string, options: DynamoConnectionStoreOptions = {}) {
    this.#doc = doc;
    // The document client's `send` is typed for its own commands only; at run time it sends a
    // low-level command unchanged, through the client it wraps.
    this.#reads = options.reads ?? (doc as unknown as ItemQuerySender);
    this.#table = tableName;
    this.#batchAttempts = options.batchAttempts ?? 5;
    this.#sleep = options.sleep ?? realSleep;
  }

  async put(record: ConnectionRecord): Promise<void> {
    const item: Record<string, unknown> = {
      [ATTR.pk]: record.connectionId,
      [ATTR.sk]: SK.connection,
      [ATTR.connectionId]: record.connectionId,
      [ATTR.uid]: record.uid,
      [ATTR.shard]: record.shard,
      [ATTR.connectedAt]: record.connectedAt,
      [ATTR.lastSeenAt]: record.lastSeenAt,
      [ATTR.expiresAt]: record.expiresAt,
      [ATTR.grants]: [...record.grants],
    };
    if (record.tokenExp !== undefined) item[ATTR.tokenExp] = record.tokenExp;
    if (record.sourceIp !== undefined) item[ATTR.sourceIp] = record.sourceIp;
    if (record.userAgent !== undefined) item[ATTR.userAgent] = record.userAgent;
    if (record.instance !== undefined) item[ATTR.instance] = record.instance;
    await dynamoCall('PutItem', () => this.#doc.send(new PutCommand({ TableName: this.#table, Item: item })));
  }

  async remove(connectionId: string): Promise<number> {
    const keys: Record<string, unknown>[] = [];
    await queryEach(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': ATTR.pk, '#sk': ATTR.sk },
        ExpressionAttributeValues: { ':pk': connectionId },
        ProjectionExpression: '#pk, #sk',
        ConsistentRead: true,
      },
      (item) => {
        keys.push({ [ATTR.pk]: item[ATTR.pk], [ATTR.sk]: item[ATTR.sk] });
      },
    );
    if (keys.length === 1) {
      const Key = keys[0];
      await dynamoCall('DeleteItem', () =>
        this.#doc.send(new DeleteCommand({ TableName: this.#table, Key })),
      );
      return 1;
    }
    for (let i = 0; i < keys.length; i += 25) {
      let requests = keys.slice(i, i + 25).map((Key) => ({ DeleteRequest: { Key } }));
      for (let attempt = 0; requests.length > 0; attempt++) {
        if (attempt >= this.#batchAttempts) {
          throw new ThrottledError(
            `DynamoDB left ${requests.length} deletes unprocessed for ${connectionId}`,
          );
        }
        if (attempt > 0) await this.#sleep(fullJitterDelay(attempt, { baseMs: 50, capMs: 1000 }));
        const batch = requests;
        const out = await dynamoCall('BatchWriteItem', () =>
          this.#doc.send(new BatchWriteCommand({ RequestItems: { [this.#table]: batch } })),
        );
        requests = (out.UnprocessedItems?.[this.#table] ?? []) as typeof requests;
      }
    }
    return keys.length;
  }

  claim(connectionId: string): Promise<boolean> {
    // The condition, not `ReturnValues`, makes one claim the winner: DynamoDB Local answered
    // concurrent unconditional deletes of one item each with the old item (half of 300 trials of 6
    // at once), and only a conditional write is documented to let exactly one of them through.
    return conditionalWrite('DeleteItem', () =>
      this.#doc.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: connectionId, [ATTR.sk]: SK.connection },
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#pk': ATTR.pk },
        }),
      ),
    );
  }

  async isStored(connectionId: string): Promise<boolean> {
    const out = await dynamoCall('GetItem', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: connectionId, [ATTR.sk]: SK.connection },
          ConsistentRead: true,
          ProjectionExpression: '#pk',
          ExpressionAttributeNames: { '#pk': ATTR.pk },
        }),
      ),
    );
    return out.Item !== undefined;
  }

  touch(connectionId: string, nowMs: number): Promise<boolean> {
    return this.#updateConnection(connectionId, 'SET #seen = :seen, #exp = :exp', {
      names: { '#seen': ATTR.lastSeenAt, '#exp': ATTR.expiresAt },
      values: { ':seen': nowMs, ':exp': expiresAtFor(nowMs) },
    });
  }

  async subscribe(record: SubscriptionRecord, nowMs: number, maxSubscriptions: number): Promise<void> {
    // The topic set on the connection record is the counter: one conditional write checks it and
    // adds to it, so concurrent subscribes on other instances cannot overshoot the cap, and a
    // topic already subscribed passes whatever the count.
    const registered = await this.#updateConnection(
      record.connectionId,
      'ADD #topics :topic SET #seen = :seen, #exp = :exp',
      {
        names: { '#topics': ATTR.topics, '#seen': ATTR.lastSeenAt, '#exp': ATTR.expiresAt },
        values: {
          ':topic': new Set([record.topic]),
          ':name': record.topic,
          ':max': maxSubscriptions,
          ':seen': nowMs,
          ':exp': expiresAtFor(nowMs),
        },
        condition: 'attribute_not_exists(#topics) OR contains(#topics, :name) OR size(#topics) < :max',
      },
    );
    if (!registered) {
      // The write was refused for one of two reasons; a consistent read tells which.
      if (await this.#connectionExists(record.connectionId)) {
        throw new LimitExceededError(
          `a connection may subscribe to at most ${maxSubscriptions} topics; unsubscribe from one first`,
        );
      }
      throw new GoneError(`connection ${record.connectionId} is no longer registered; reconnect`);
    }
    const item: Record<string, unknown> = {
      [ATTR.pk]: record.connectionId,
      [ATTR.sk]: SK.topicPrefix + record.topic,
      [ATTR.connectionId]: record.connectionId,
      [ATTR.topic]: record.topic,
      [ATTR.topicShard]: record.shard,
      [ATTR.subscriber]: record.uid,
      [ATTR.connectedAt]: record.connectedAt,
      [ATTR.expiresAt]: record.expiresAt,
    };
    if (record.tokenExp !== undefined) item[ATTR.tokenExp] = record.tokenExp;
    await dynamoCall('PutItem', () => this.#doc.send(new PutCommand({ TableName: this.#table, Item: item })));
    // API Gateway runs a connection's frames concurrently, so an unsubscribe of this topic may
    // have run whole between the note and the record (it takes the note off, then deletes a
    // record not yet written): the record just written would then be a subscription the cap no
    // longer counts, and a client racing subscribe against unsubscribe could hold any number of
    // them. Read the note again and take the record back if it is gone. With unsubscribe taking
    // the note off first, no order of the two leaves a record without its note; the one it can
    // leave is a note without a record, which counts a slot the client gets back by unsubscribing.
    if (!(await this.#noted(record.connectionId, record.topic))) {
      await dynamoCall('DeleteItem', () =>
        this.#doc.send(
          new DeleteCommand({
            TableName: this.#table,
            Key: { [ATTR.pk]: record.connectionId, [ATTR.sk]: SK.topicPrefix + record.topic },
          }),
        ),
      );
    }
  }

  /** True when the connection record (read consistently) lists `topic` among its subscriptions. */
  async #noted(connectionId: string, topic: string): Promise<boolean> {
    const topics = (await this.#readConnection(connectionId, ATTR.topics))?.[ATTR.topics];
    return topics instanceof Set && topics.has(topic);
  }

  async #connectionExists(connectionId: string): Promise<boolean> {
    return (await this.#readConnection(connectionId, ATTR.pk)) !== undefined;
  }

  /** One attribute of the connection record, read consistently; undefined when there is no record. */
  async #readConnection(
    connectionId: string,
    attribute: string,
  ): Promise<Record<string, unknown> | undefined> {
    const out = await dynamoCall('GetItem', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: connectionId, [ATTR.sk]: SK.connection },
          ProjectionExpression: '#a',
          ExpressionAttributeNames: { '#a': attribute },
          ConsistentRead: true,
        }),
      ),
    );
    return out.Item;
  }

  async unsubscribe(connectionId: string, topic: string): Promise<void> {
    // The note first, then the record: a subscribe racing this one checks the note after writing
    // its record (see subscribe), and this order is the one in which that check never misses.
    await this.#updateConnection(connectionId, 'DELETE #topics :topic', {
      names: { '#topics': ATTR.topics },
      values: { ':topic': new Set([topic]) },
    });
    await dynamoCall('DeleteItem', () =>
      this.#doc.send(
        new DeleteCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: connectionId, [ATTR.sk]: SK.topicPrefix + topic },
        }),
      ),
    );
  }

  async connectionsOf(uid: string, nowMs: number): Promise<ConnectionDetails[]> {
    const found: ConnectionDetails[] = [];
    await queryEachItem(this.#reads, this.#byUidQuery(uid), (item) => {
      const connectedAt = Number(item[ATTR.connectedAt]?.N);
      if (!isLive({ expiresAt: Number(item[ATTR.expiresAt]?.N), connectedAt }, nowMs)) return;
      const instance = item[ATTR.instance]?.S;
      found.push({
        connectionId: String(item[ATTR.connectionId]?.S),
        connectedAt,
        lastSeenAt: Number(item[ATTR.lastSeenAt]?.N),
        topics: [...(item[ATTR.topics]?.SS ?? [])].sort(),
        ...(instance === undefined ? {} : { instance }),
      });
    });
    return found;
  }

  async byUid(uid: string, nowMs: number): Promise<Target[]> {
    return (await this.#targets(this.#byUidQuery(uid), nowMs, ATTR.uid)).targets;
  }

  async byTopic(topic: string, nowMs: number, maxUids?: number): Promise<Target[]> {
    const query = this.#byTopicQuery(topic, undefined);
    if (maxUids === undefined) return (await this.#targets(query, nowMs, ATTR.subscriber)).targets;
    const uids = new Set<string>();
    const read = await this.#targets(query, nowMs, ATTR.subscriber, undefined, (target) => {
      uids.add(target.uid);
      return uids.size > maxUids;
    });
    return read.targets;
  }

  readShard(to: ShardAudience, shard: number, nowMs: number, limit: number): Promise<ShardRead> {
    return 'topic' in to
      ? this.#targets(this.#byTopicQuery(to.topic, shard), nowMs, ATTR.subscriber, limit)
      : this.#targets(this.#byShardQuery(shard), nowMs, ATTR.uid, limit);
  }

  async readShardPage(
    to: ShardAudience,
    shard: number,
    nowMs: number,
    after: string | undefined,
    limit: number,
  ): Promise<ShardPage> {
    const topic = 'topic' in to ? to.topic : undefined;
    const query =
      topic === undefined
        ? withTargetProjection(this.#byShardQuery(shard), ATTR.uid)
        : withTargetProjection(this.#byTopicQuery(topic, shard), ATTR.subscriber);
    // An index's ExclusiveStartKey is the table's key and the index's: all of them follow from the
    // connection id, as each connection has one record of each kind. It names a position, so the
    // record need not exist any more.
    const start: Record<string, AttributeValue> | undefined =
      after === undefined
        ? undefined
        : topic === undefined
          ? { [ATTR.pk]: { S: after }, [ATTR.sk]: { S: SK.connection }, [ATTR.shard]: { N: String(shard) } }
          : {
              [ATTR.pk]: { S: after },
              [ATTR.sk]: { S: SK.topicPrefix + topic },
              [ATTR.topic]: { S: topic },
              [ATTR.topicShard]: { N: String(shard) },
            };
    const page = await dynamoCall('Query', () =>
      this.#reads.send(
        new ItemQueryCommand({
          ...query,
          Limit: limit,
          ...(start === undefined ? {} : { ExclusiveStartKey: start }),
        }),
      ),
    );
    const uidAttr = topic === undefined ? ATTR.uid : ATTR.subscriber;
    const targets: Target[] = [];
    for (const item of page.Items ?? []) {
      const target = targetOf(item, nowMs, uidAttr);
      if (target !== undefined) targets.push(target);
    }
    const next = page.LastEvaluatedKey?.[ATTR.pk]?.S;
    return next === undefined ? { targets } : { targets, next };
  }

  /**
   * The connection's lease and window first, then the uid's count: a resume refused for the
   * connection never spends the uid's budget, and one refused for the uid, or whose count failed,
   * gives the lease back (kept, it would refuse the connection's every resume as `busy` until the
   * invocation's end) and the connection's count with it.
   */
  async beginReplay(
    connectionId: string,
    uid: string,
    nowMs: number,
    untilMs: number,
    budget: ReplayBudget,
  ): Promise<ReplayStart> {
    const start = await this.#takeReplayLease(connectionId, nowMs, untilMs, budget);
    if (start !== 'started') return start;
    let counted: boolean;
    try {
      counted = await this.#countUidResume(uid, nowMs, budget);
    } catch (error) {
      await this.#giveBack(connectionId, untilMs).catch(() => {});
      throw error;
    }
    if (counted) return 'started';
    // The refusal is the answer either way: a failed give-back leaves a lease that lapses at its
    // deadline, as on the path above, and must not turn `rate_limited` into `unavailable`.
    await this.#giveBack(connectionId, untilMs).catch(() => {});
    return 'uidExhausted';
  }

  /**
   * Undoes a lease just taken for a resume that does not run: the lease, and the one it counted in
   * the connection's window, so a resume refused for the uid does not spend the connection's own
   * budget as well.
   */
  async #giveBack(connectionId: string, untilMs: number): Promise<void> {
    await this.#updateConnection(connectionId, 'REMOVE #lease ADD #count :minus', {
      names: { '#lease': ATTR.replayUntil, '#count': ATTR.resumeCount },
      values: { ':until': untilMs, ':minus': -1 },
      condition: '#lease = :until',
    });
  }

  /**
   * One conditional UpdateItem on the uid's counter of the current fixed window: it adds one
   * unless the window holds its whole budget. The item expires with its window.
   */
  async #countUidResume(uid: string, nowMs: number, budget: ReplayBudget): Promise<boolean> {
    const windowStart = Math.floor(nowMs / budget.windowMs) * budget.windowMs;
    const key = RESUME_COUNT_KEY(uid, windowStart);
    return conditionalWrite('UpdateItem', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: key.pk, [ATTR.sk]: key.sk },
          UpdateExpression: 'ADD #count :one SET #exp = :exp',
          ConditionExpression: 'attribute_not_exists(#count) OR #count < :max',
          ExpressionAttributeNames: { '#count': ATTR.resumeCount, '#exp': ATTR.expiresAt },
          ExpressionAttributeValues: {
            ':one': 1,
            ':max': budget.perUid,
            ':exp': Math.ceil((windowStart + budget.windowMs) / 1000) + LIMITS.expiryMarginSeconds,
          },
        }),
      ),
    );
  }

  /**
   * The connection's lease and its own window budget. One conditional UpdateItem in the common
   * case: a connection's first resume opens a window starting now; a later one inside it is
   * counted (a second UpdateItem, tried when the first finds the window still open). Both take
   * the lease only if no unexpired lease is held. When both are refused, a consistent GetItem
   * says why.
   */
  async #takeReplayLease(
    connectionId: string,
    nowMs: number,
    untilMs: number,
    budget: ReplayBudget,
  ): Promise<ReplayStart> {
    const windowAgo = nowMs - budget.windowMs;
    const names = {
      '#lease': ATTR.replayUntil,
      '#win': ATTR.resumeWindow,
      '#count': ATTR.resumeCount,
    };
    const leaseFree = '(attribute_not_exists(#lease) OR #lease <= :now)';
    const opened = await this.#updateConnection(
      connectionId,
      'SET #lease = :until, #win = :now, #count = :one',
      {
        names,
        values: { ':now': nowMs, ':until': untilMs, ':ago': windowAgo, ':one': 1 },
        condition: `${leaseFree} AND (attribute_not_exists(#win) OR #win <= :ago)`,
      },
    );
    if (opened) return 'started';
    const counted = await this.#updateConnection(connectionId, 'SET #lease = :until ADD #count :one', {
      names,
      values: { ':now': nowMs, ':until': untilMs, ':ago': windowAgo, ':one': 1, ':max': budget.perWindow },
      condition: `${leaseFree} AND #win > :ago AND #count < :max`,
    });
    if (counted) return 'started';
    // Both conditions failed: the lease was held or the window's budget spent. The read tells
    // which; a lease released since (the other replay just ended) leaves an unspent budget, and
    // that is still a collision with another replay, not a spent budget.
    const out = await dynamoCall('GetItem', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: connectionId, [ATTR.sk]: SK.connection },
          ProjectionExpression: '#win, #count',
          ExpressionAttributeNames: { '#win': ATTR.resumeWindow, '#count': ATTR.resumeCount },
          ConsistentRead: true,
        }),
      ),
    );
    if (out.Item === undefined) return 'gone';
    const window = Number(out.Item[ATTR.resumeWindow] ?? Number.NEGATIVE_INFINITY);
    const count = Number(out.Item[ATTR.resumeCount] ?? 0);
    return window > windowAgo && count >= budget.perWindow ? 'exhausted' : 'busy';
  }

  async endReplay(connectionId: string, untilMs: number): Promise<void> {
    await this.#updateConnection(connectionId, 'REMOVE #lease', {
      names: { '#lease': ATTR.replayUntil },
      values: { ':until': untilMs },
      condition: '#lease = :until',
    });
  }

  /** A Query on one of the sparse indexes by its partition key. */
  #indexQuery(IndexName: string, key: string, value: AttributeValue): ItemQueryInput {
    return {
      TableName: this.#table,
      IndexName,
      KeyConditionExpression: '#k = :k',
      ExpressionAttributeNames: { '#k': key },
      ExpressionAttributeValues: { ':k': value },
    };
  }

  /** A topic's subscriptions, all of them or one shard's (the index's sort key). */
  #byTopicQuery(topic: string, shard: number | undefined): ItemQueryInput {
    const query = this.#indexQuery(INDEX.byTopic, ATTR.topic, { S: topic });
    if (shard === undefined) return query;
    return {
      ...query,
      KeyConditionExpression: '#k = :k AND #s = :s',
      ExpressionAttributeNames: { ...query.ExpressionAttributeNames, '#s': ATTR.topicShard },
      ExpressionAttributeValues: { ...query.ExpressionAttributeValues, ':s': { N: String(shard) } },
    };
  }

  #byShardQuery(shard: number): ItemQueryInput {
    return this.#indexQuery(INDEX.byShard, ATTR.shard, { N: String(shard) });
  }

  /**
   * Updates the connection record only if it still exists, so a write racing a disconnect never
   * recreates a half record; resolves false when it is gone.
   */
  async #updateConnection(
    connectionId: string,
    UpdateExpression: string,
    expression: { names: Record<string, string>; values: Record<string, unknown>; condition?: string },
  ): Promise<boolean> {
    return conditionalWrite('UpdateItem', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: connectionId, [ATTR.sk]: SK.connection },
          ConditionExpression:
            expression.condition === undefined
              ? 'attribute_exists(#pk)'
              : `attribute_exists(#pk) AND (${expression.condition})`,
          UpdateExpression,
          ExpressionAttributeNames: { '#pk': ATTR.pk, ...expression.names },
          ExpressionAttributeValues: expression.values,
        }),
      ),
    );
  }

  /** One uid's connection records, through the sparse uid index: the one Query of a uid push. */
  #byUidQuery(uid: string): ItemQueryInput {
    return this.#indexQuery(INDEX.byUid, ATTR.uid, { S: uid });
  }

  /**
   * The live targets `input` finds, up to `limit` records read; with `enough`, told of each live
   * target, the Query stops at the end of the page on which it first answered true.
   */
  async #targets(
    input: ItemQueryInput,
    nowMs: number,
    uidAttr: string,
    limit?: number,
    enough?: (target: Target) => boolean,
  ): Promise<ShardRead> {
    const targets: Target[] = [];
    let done = false;
    const complete = await queryEachItem(
      this.#reads,
      withTargetProjection(input, uidAttr),
      (item) => {
        const target = targetOf(item, nowMs, uidAttr);
        if (target !== undefined) {
          targets.push(target);
          if (enough?.(target) === true) done = true;
        }
      },
      limit,
      () => done,
    );
    return { targets, complete };
  }
}

/** The target a record read through {@link withTargetProjection} names, if it is live. */
function targetOf(item: Record<string, AttributeValue>, nowMs: number, uidAttr: string): Target | undefined {
  const record = {
    expiresAt: Number(item[ATTR.expiresAt]?.N),
    connectedAt: Number(item[ATTR.connectedAt]?.N),
  };
  if (!isLive(record, nowMs)) return undefined;
  const tokenExp = item[ATTR.tokenExp]?.N;
  return {
    connectionId: String(item[ATTR.connectionId]?.S),
    uid: String(item[uidAttr]?.S),
    connectedAt: record.connectedAt,
    ...(tokenExp === undefined ? {} : { tokenExp: Number(tokenExp) }),
  };
}

/**
 * `input` reading only what a delivery needs of each record: its id, uid, the two times
 * {@link isLive} judges and the token's expiry. The indexes project every attribute, and a
 * connection's record also lists its grants and topics (up to 100 each, near 26 KB at the limits):
 * read whole, a uid push to a user with many subscriptions moved and unmarshalled all of them for
 * every connection, and a shard read every record's. DynamoDB meters a Query by the items' full
 * size either way; what shrinks is the answer, and the CPU spent on it.
 */
function withTargetProjection(input: ItemQueryInput, uidAttr: string): ItemQueryInput {
  return {
    ...input,
    ProjectionExpression: '#pc, #pu, #pt, #pe, #px',
    ExpressionAttributeNames: {
      ...input.ExpressionAttributeNames,
      '#pc': ATTR.connectionId,
      '#pu': uidAttr,
      '#pt': ATTR.connectedAt,
      '#pe': ATTR.expiresAt,
      '#px': ATTR.tokenExp,
    },
  };
}
