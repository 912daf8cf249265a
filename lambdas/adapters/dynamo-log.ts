import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { type LogSettings, logExpiresAt } from '../core/log';
import type { LoggedMessage, LogRead, MessageLog } from '../core/ports';
import { LOG_ATTR } from '../shared/tables';
import { dynamoCall } from './dynamo';

/**
 * {@link MessageLog} on DynamoDB. The counter item (`seq = 0`) is bumped with an atomic `ADD`,
 * which gives every append a unique, increasing seq without transactions (dynalite has none).
 * The counter carries no TTL: if it expired, seqs would restart and clients would skip messages.
 */
export class DynamoMessageLog implements MessageLog {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;
  readonly #settings: LogSettings;

  constructor(doc: DynamoDBDocumentClient, tableName: string, settings: LogSettings) {
    this.#doc = doc;
    this.#table = tableName;
    this.#settings = settings;
  }

  async append(stream: string, message: Omit<LoggedMessage, 'seq'>, nowMs: number): Promise<number> {
    const seq = await this.reserve(stream);
    await this.store(stream, { ...message, seq }, nowMs);
    return seq;
  }

  async reserve(stream: string): Promise<number> {
    const counter = await dynamoCall('UpdateItem', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [LOG_ATTR.stream]: stream, [LOG_ATTR.seq]: 0 },
          UpdateExpression: 'ADD #latest :one',
          ExpressionAttributeNames: { '#latest': LOG_ATTR.latest },
          ExpressionAttributeValues: { ':one': 1 },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return Number(counter.Attributes?.[LOG_ATTR.latest]);
  }

  async store(stream: string, message: LoggedMessage, nowMs: number): Promise<void> {
    const { seq } = message;
    const item: Record<string, unknown> = {
      [LOG_ATTR.stream]: stream,
      [LOG_ATTR.seq]: seq,
      [LOG_ATTR.id]: message.id,
      [LOG_ATTR.data]: message.dataJson,
      [LOG_ATTR.ts]: message.ts,
      [LOG_ATTR.expiresAt]: logExpiresAt(nowMs, this.#settings),
    };
    if (message.topic !== undefined) item[LOG_ATTR.topic] = message.topic;
    const writes: Promise<unknown>[] = [
      dynamoCall('PutItem', () => this.#doc.send(new PutCommand({ TableName: this.#table, Item: item }))),
    ];
    // Each append trims exactly the one message that falls out of the window, keeping the count bounded in O(1).
    const trimmed = seq - this.#settings.maxMessages;
    if (trimmed > 0) {
      writes.push(
        dynamoCall('DeleteItem', () =>
          this.#doc.send(
            new DeleteCommand({
              TableName: this.#table,
              Key: { [LOG_ATTR.stream]: stream, [LOG_ATTR.seq]: trimmed },
            }),
          ),
        ),
      );
    }
    await Promise.all(writes);
  }

  async latest(stream: string): Promise<number> {
    const out = await dynamoCall('GetItem', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { [LOG_ATTR.stream]: stream, [LOG_ATTR.seq]: 0 },
          ProjectionExpression: '#latest',
          ExpressionAttributeNames: { '#latest': LOG_ATTR.latest },
          ConsistentRead: true,
        }),
      ),
    );
    return Number(out.Item?.[LOG_ATTR.latest] ?? 0);
  }

  async read(stream: string, since: number, nowMs: number, limit: number): Promise<LogRead> {
    const latestPromise = this.latest(stream);
    const messages: LoggedMessage[] = [];
    let expired = false;
    let ExclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await dynamoCall('Query', () =>
        this.#doc.send(
          new QueryCommand({
            TableName: this.#table,
            KeyConditionExpression: '#stream = :stream AND #seq > :since',
            ExpressionAttributeNames: { '#stream': LOG_ATTR.stream, '#seq': LOG_ATTR.seq },
            ExpressionAttributeValues: { ':stream': stream, ':since': since },
            ConsistentRead: true,
            Limit: limit - messages.length,
            ExclusiveStartKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        // DynamoDB deletes expired items late; an expired message is treated as gone.
        if (Number(item[LOG_ATTR.expiresAt]) * 1000 <= nowMs) {
          expired = true;
          continue;
        }
        const message: LoggedMessage = {
          seq: Number(item[LOG_ATTR.seq]),
          id: String(item[LOG_ATTR.id]),
          dataJson: String(item[LOG_ATTR.data]),
          ts: Number(item[LOG_ATTR.ts]),
          ...(item[LOG_ATTR.topic] === undefined ? {} : { topic: String(item[LOG_ATTR.topic]) }),
        };
        messages.push(message);
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey !== undefined && messages.length < limit);
    const latest = await latestPromise;
    return { messages, latest, ...(expired ? { expired } : {}) };
  }
}
