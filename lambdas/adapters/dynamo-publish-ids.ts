import {
  type AttributeValue,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { PublishOutcome, TakenSeq } from '../core/publish';
import type { Claim, IdRecord, PublishIds, TakenSeqs } from '../core/publish-ids';
import { LIMITS } from '../shared/limits';
import { PUBLISH_ATTR as A, PUBLISH_PART } from '../shared/tables';
import { conditionalWrite, dynamoCall, isConditionFailure, translateDynamoError } from './dynamo';
import type { DynamoSender } from './dynamo-http';

const STATE = { running: 'running', failed: 'failed', done: 'done' } as const;

/**
 * {@link PublishIds} on the publishes table (`part = "id"`), through the low-level client with
 * items marshalled by hand: a claim is on every publish's path, so it goes through the hot-path
 * client (`dynamoClientFromEnv`), which sends low-level commands only.
 */
export class DynamoPublishIds implements PublishIds {
  readonly #client: DynamoSender;
  readonly #table: string;
  readonly #retentionSeconds: number;

  constructor(client: DynamoSender, tableName: string, retentionSeconds = LIMITS.publishRecordSeconds) {
    this.#client = client;
    this.#table = tableName;
    this.#retentionSeconds = retentionSeconds;
  }

  #key(id: string): Record<string, AttributeValue> {
    return { [A.id]: { S: id }, [A.part]: { S: PUBLISH_PART.id } };
  }

  #expiresAt(nowMs: number): AttributeValue {
    return { N: String(Math.ceil(nowMs / 1000) + this.#retentionSeconds) };
  }

  /**
   * One conditional PutItem; only when it is refused, a consistent GetItem reads what holds the
   * id (dynalite has no `ReturnValuesOnConditionCheckFailure`). A record that expired but that
   * DynamoDB has not deleted yet still holds its id: ids are remembered at least that long.
   */
  async claim(id: string, hash: string, attempt: string, deadlineMs: number, nowMs: number): Promise<Claim> {
    try {
      const out = await this.#client.send(
        new PutItemCommand({
          TableName: this.#table,
          Item: {
            ...this.#key(id),
            [A.hash]: { S: hash },
            [A.state]: { S: STATE.running },
            [A.attempt]: { S: attempt },
            [A.deadline]: { N: String(deadlineMs) },
            [A.expiresAt]: this.#expiresAt(nowMs),
          },
          // Free, or ours to take over: a failed attempt, or a running one past its deadline, of
          // the same body. Written flat (AND binds tighter than OR in DynamoDB's expressions):
          // dynalite parses nested parentheses with heavy backtracking, ~20× slower, on every push.
          ConditionExpression:
            'attribute_not_exists(#id) OR #hash = :hash AND #state = :failed OR #hash = :hash AND #state = :running AND #deadline < :now',
          ExpressionAttributeNames: {
            '#id': A.id,
            '#hash': A.hash,
            '#state': A.state,
            '#deadline': A.deadline,
          },
          ExpressionAttributeValues: {
            ':hash': { S: hash },
            ':failed': { S: STATE.failed },
            ':running': { S: STATE.running },
            ':now': { N: String(nowMs) },
          },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const old = out.Attributes;
      const seqs = old?.[A.seqs]?.S;
      return {
        kind: 'claimed',
        seqs: seqs === undefined ? {} : parseTakenSeqs(seqs),
        tookOver: old !== undefined,
      };
    } catch (error) {
      if (!isConditionFailure(error)) throw translateDynamoError(error, 'PutItem');
    }
    const out = await dynamoCall('GetItem', () =>
      this.#client.send(
        new GetItemCommand({ TableName: this.#table, Key: this.#key(id), ConsistentRead: true }),
      ),
    );
    const item = out.Item;
    // Deleted between the two calls: another attempt released it; claim again.
    if (item === undefined) return this.claim(id, hash, attempt, deadlineMs, nowMs);
    // Our own write: it landed but its answer was lost, and the client's retry of the same
    // PutItem was refused by it. Taken for another attempt's, the id refused this publish as
    // "still running" until its own deadline, past Lambda's first retry. Counted as a takeover,
    // since the lost answer may have carried a failed attempt's seqs (then new ones are taken:
    // the message may be logged twice, under two seqs, and clients drop the repeat by id).
    if (item[A.attempt]?.S === attempt) {
      const seqs = item[A.seqs]?.S;
      return { kind: 'claimed', seqs: seqs === undefined ? {} : parseTakenSeqs(seqs), tookOver: true };
    }
    return { kind: 'existing', record: toRecord(item) };
  }

  async complete(id: string, attempt: string, result: PublishOutcome, nowMs: number): Promise<void> {
    await this.#ifOwner(id, attempt, 'SET #state = :state, #result = :result, #exp = :exp', {
      names: { '#state': A.state, '#result': A.result, '#exp': A.expiresAt },
      values: {
        ':state': { S: STATE.done },
        ':result': { S: JSON.stringify(result) },
        ':exp': this.#expiresAt(nowMs),
      },
    });
  }

  async fail(id: string, attempt: string, seqs: TakenSeqs, nowMs: number): Promise<void> {
    await this.#ifOwner(id, attempt, 'SET #state = :state, #seqs = :seqs, #exp = :exp', {
      names: { '#state': A.state, '#seqs': A.seqs, '#exp': A.expiresAt },
      values: {
        ':state': { S: STATE.failed },
        ':seqs': { S: JSON.stringify(seqs) },
        ':exp': this.#expiresAt(nowMs),
      },
    });
  }

  async release(id: string, attempt: string): Promise<void> {
    await conditionalWrite('DeleteItem', () =>
      this.#client.send(
        new DeleteItemCommand({
          TableName: this.#table,
          Key: this.#key(id),
          ConditionExpression: '#attempt = :attempt',
          ExpressionAttributeNames: { '#attempt': A.attempt },
          ExpressionAttributeValues: { ':attempt': { S: attempt } },
        }),
      ),
    );
  }

  /** An update of the id record, made only while `attempt` still owns it (a takeover ends that). */
  async #ifOwner(
    id: string,
    attempt: string,
    UpdateExpression: string,
    expression: { names: Record<string, string>; values: Record<string, AttributeValue> },
  ): Promise<void> {
    await conditionalWrite('UpdateItem', () =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: this.#key(id),
          ConditionExpression: '#attempt = :attempt',
          UpdateExpression,
          ExpressionAttributeNames: { '#attempt': A.attempt, ...expression.names },
          ExpressionAttributeValues: { ':attempt': { S: attempt }, ...expression.values },
        }),
      ),
    );
  }
}

function toRecord(item: Record<string, AttributeValue>): IdRecord {
  const hash = item[A.hash]?.S ?? '';
  const state = item[A.state]?.S;
  const result = item[A.result]?.S;
  if (state === STATE.done && result !== undefined) {
    return { state: 'done', hash, result: JSON.parse(result) as PublishOutcome };
  }
  return { state: state === STATE.failed ? 'failed' : 'running', hash };
}

/** The taken seqs of an id record; a bare number is a seq recorded before epochs were kept. */
function parseTakenSeqs(text: string): TakenSeqs {
  const parsed = JSON.parse(text) as Record<string, number | TakenSeq>;
  return Object.fromEntries(
    Object.entries(parsed).map(([uid, taken]) => [uid, typeof taken === 'number' ? { seq: taken } : taken]),
  );
}
