import { type DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { ChunkCounts, PublishRecords, PublishStatus, ShardProgress } from '../core/shard-jobs';
import { LIMITS } from '../shared/limits';
import { PUBLISH_ATTR as A, PUBLISH_PART } from '../shared/tables';
import { conditionalWrite, dynamoCall, queryEach } from './dynamo';

/** {@link PublishRecords} on DynamoDB: a summary item plus one item per shard job. */
export class DynamoPublishRecords implements PublishRecords {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #retentionSeconds: number;

  /** `retentionSeconds`: how long the records stay, as long as the publish's id record. */
  constructor(
    doc: DynamoDBDocumentClient,
    tableName: string,
    retentionSeconds = LIMITS.publishRecordSeconds,
  ) {
    this.#doc = doc;
    this.#table = tableName;
    this.#retentionSeconds = retentionSeconds;
  }

  /**
   * The summary keeps the set of shards every attempt planned (a number set that each call adds
   * to), so a retried publish whose audience moved between attempts cannot report `done` while a
   * shard only the retry planned is still to run; shards a first attempt finished stay counted.
   */
  async create(id: string, shards: readonly number[], nowMs: number): Promise<readonly number[]> {
    const planned = shards.length > 0;
    const out = await dynamoCall('UpdateItem', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [A.id]: id, [A.part]: PUBLISH_PART.summary },
          UpdateExpression: `SET #created = if_not_exists(#created, :now), #exp = :exp${planned ? ' ADD #shards :shards' : ''}`,
          ExpressionAttributeNames: {
            '#created': A.createdAt,
            '#exp': A.expiresAt,
            ...(planned ? { '#shards': A.shards } : {}),
          },
          ExpressionAttributeValues: {
            ':now': nowMs,
            ':exp': Math.ceil(nowMs / 1000) + this.#retentionSeconds,
            ...(planned ? { ':shards': new Set(shards) } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return shardList(out.Attributes?.[A.shards]);
  }

  async planned(id: string): Promise<readonly number[]> {
    const out = await dynamoCall('GetItem', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { [A.id]: id, [A.part]: PUBLISH_PART.summary },
          ProjectionExpression: '#shards',
          ExpressionAttributeNames: { '#shards': A.shards },
          ConsistentRead: true,
        }),
      ),
    );
    return shardList(out.Item?.[A.shards]);
  }

  async progress(id: string, shard: number): Promise<ShardProgress> {
    const out = await dynamoCall('Query', () =>
      this.#doc.send(
        new QueryCommand({
          TableName: this.#table,
          KeyConditionExpression: '#id = :id AND #part = :part',
          ExpressionAttributeNames: { '#id': A.id, '#part': A.part },
          ExpressionAttributeValues: { ':id': id, ':part': PUBLISH_PART.shard(shard) },
          ConsistentRead: true,
        }),
      ),
    );
    const item = out.Items?.[0];
    return {
      done: item?.[A.done] === true,
      ...(item?.[A.checkpoint] === undefined ? {} : { checkpoint: String(item[A.checkpoint]) }),
    };
  }

  async advance(
    id: string,
    shard: number,
    from: string | undefined,
    to: string,
    counts: ChunkCounts,
  ): Promise<boolean> {
    return conditionalWrite('UpdateItem', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [A.id]: id, [A.part]: PUBLISH_PART.shard(shard) },
          ConditionExpression: `attribute_not_exists(#done) AND ${
            from === undefined ? 'attribute_not_exists(#cp)' : '#cp = :from'
          }`,
          UpdateExpression: 'SET #cp = :cp, #exp = :exp ADD #c :c, #d :d, #g :g, #f :f',
          ExpressionAttributeNames: {
            '#done': A.done,
            '#cp': A.checkpoint,
            '#exp': A.expiresAt,
            '#c': A.connections,
            '#d': A.delivered,
            '#g': A.gone,
            '#f': A.failed,
          },
          ExpressionAttributeValues: {
            ':cp': to,
            ...(from === undefined ? {} : { ':from': from }),
            ':exp': Math.ceil(Date.now() / 1000) + this.#retentionSeconds,
            ':c': counts.connections,
            ':d': counts.delivered,
            ':g': counts.gone,
            ':f': counts.failed,
          },
        }),
      ),
    );
  }

  async finish(id: string, shard: number): Promise<void> {
    await dynamoCall('UpdateItem', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [A.id]: id, [A.part]: PUBLISH_PART.shard(shard) },
          UpdateExpression: 'SET #done = :t, #exp = :exp',
          ExpressionAttributeNames: { '#done': A.done, '#exp': A.expiresAt },
          ExpressionAttributeValues: {
            ':t': true,
            ':exp': Math.ceil(Date.now() / 1000) + this.#retentionSeconds,
          },
        }),
      ),
    );
  }

  async status(id: string): Promise<PublishStatus | undefined> {
    const items: Record<string, unknown>[] = [];
    await queryEach(
      this.#doc,
      {
        TableName: this.#table,
        KeyConditionExpression: '#id = :id',
        ExpressionAttributeNames: { '#id': A.id },
        ExpressionAttributeValues: { ':id': id },
        ConsistentRead: true,
      },
      (item) => items.push(item),
    );
    const summary = items.find((i) => i[A.part] === PUBLISH_PART.summary);
    // DynamoDB deletes expired items late; past its expiry a record is treated as gone.
    if (summary === undefined || Number(summary[A.expiresAt]) * 1000 <= Date.now()) return undefined;
    const planned = summary[A.shards];
    const shards = planned instanceof Set ? planned.size : 0;
    const sum = (key: string) => items.reduce((n, i) => n + Number(i[key] ?? 0), 0);
    const shardsDone = items.filter((i) => i[A.part] !== PUBLISH_PART.summary && i[A.done] === true).length;
    return {
      id,
      status: shardsDone >= shards ? 'done' : 'queued',
      shards,
      shardsDone,
      connections: sum(A.connections),
      delivered: sum(A.delivered),
      gone: sum(A.gone),
      failed: sum(A.failed),
    };
  }
}

/** The summary's number set of planned shards, in ascending order. */
function shardList(all: unknown): readonly number[] {
  return all instanceof Set ? [...(all as Set<number>)].map(Number).sort((a, b) => a - b) : [];
}
