import { randomBytes } from 'node:crypto';
import {
  type AttributeValue,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { type LogSettings, logExpiresAt } from '../core/log';
import type { LoggedMessage, LogRead, MessageLog, StreamHead, StreamPosition } from '../core/ports';
import { LOG_ATTR } from '../shared/tables';
import { dynamoCall } from './dynamo';
import type { DynamoSender } from './dynamo-http';

/**
 * {@link MessageLog} on DynamoDB. The counter item (`seq = 0`) is bumped with an atomic `ADD`,
 * which gives every append a unique, increasing seq without transactions (dynalite has none).
 * The counter carries no TTL: if it expired, seqs would restart and clients would skip messages.
 * It also carries the stream's epoch, set by the update that creates the counter: a stream whose
 * counter is gone (a table replaced, an in-memory stack restarted) starts a new epoch, which
 * clients holding a cursor of the old one are told about. Each message is stored with its epoch,
 * so messages left over from an old epoch are never read as the new one's.
 *
 * Every uid push appends here (a counter update and a put, before and after its post), so the log
 * uses the low-level client with items marshalled by hand, as the publish ids do: that
 * client can keep its middleware stack cached, the document client cannot, and the items are a
 * few strings and numbers.
 */
export class DynamoMessageLog implements MessageLog {
  readonly #client: DynamoSender;
  readonly #table: string;
  readonly #settings: LogSettings;

  constructor(client: DynamoSender, tableName: string, settings: LogSettings) {
    this.#client = client;
    this.#table = tableName;
    this.#settings = settings;
  }

  async reserve(stream: string): Promise<StreamPosition> {
    const counter = await this.#updateCounter(stream, true);
    return { seq: Number(counter[LOG_ATTR.latest]?.N), epoch: String(counter[LOG_ATTR.epoch]?.S) };
  }

  async epoch(stream: string): Promise<string> {
    return String((await this.#updateCounter(stream, false))[LOG_ATTR.epoch]?.S);
  }

  #key(stream: string, seq: number): Record<string, AttributeValue> {
    return { [LOG_ATTR.stream]: { S: stream }, [LOG_ATTR.seq]: { N: String(seq) } };
  }

  /**
   * One update of the stream's counter item: it draws the epoch if the item has none (it creates
   * the item, or the item was made before epochs) and, when `count`, adds one to the counter.
   * ALL_NEW: the counter item is a few bytes, and it returns the epoch whether or not this update set it.
   */
  async #updateCounter(stream: string, count: boolean): Promise<Record<string, AttributeValue>> {
    const out = await dynamoCall('UpdateItem', () =>
      this.#client.send(
        new UpdateItemCommand({
          TableName: this.#table,
          Key: this.#key(stream, 0),
          UpdateExpression: `SET #epoch = if_not_exists(#epoch, :epoch)${count ? ' ADD #latest :one' : ''}`,
          ExpressionAttributeNames: {
            '#epoch': LOG_ATTR.epoch,
            ...(count ? { '#latest': LOG_ATTR.latest } : {}),
          },
          ExpressionAttributeValues: {
            ':epoch': { S: newEpoch() },
            ...(count ? { ':one': { N: '1' } } : {}),
          },
          ReturnValues: 'ALL_NEW',
        }),
      ),
    );
    return out.Attributes ?? {};
  }

  async store(stream: string, message: LoggedMessage, nowMs: number): Promise<void> {
    const { seq } = message;
    const item: Record<string, AttributeValue> = {
      ...this.#key(stream, seq),
      [LOG_ATTR.id]: { S: message.id },
      [LOG_ATTR.data]: { S: message.dataJson },
      [LOG_ATTR.ts]: { N: String(message.ts) },
      [LOG_ATTR.expiresAt]: { N: String(logExpiresAt(nowMs, this.#settings)) },
    };
    if (message.epoch !== undefined) item[LOG_ATTR.epoch] = { S: message.epoch };
    if (message.topic !== undefined) item[LOG_ATTR.topic] = { S: message.topic };
    const writes: Promise<unknown>[] = [
      dynamoCall('PutItem', () =>
        this.#client.send(new PutItemCommand({ TableName: this.#table, Item: item })),
      ),
    ];
    // Each append trims exactly the one message that falls out of the window, keeping the count bounded in O(1).
    const trimmed = seq - this.#settings.maxMessages;
    if (trimmed > 0) {
      writes.push(
        dynamoCall('DeleteItem', () =>
          this.#client.send(
            new DeleteItemCommand({ TableName: this.#table, Key: this.#key(stream, trimmed) }),
          ),
        ),
      );
    }
    await Promise.all(writes);
  }

  async head(stream: string): Promise<StreamHead> {
    const out = await dynamoCall('GetItem', () =>
      this.#client.send(
        new GetItemCommand({
          TableName: this.#table,
          Key: this.#key(stream, 0),
          ProjectionExpression: '#latest, #epoch',
          ExpressionAttributeNames: { '#latest': LOG_ATTR.latest, '#epoch': LOG_ATTR.epoch },
          ConsistentRead: true,
        }),
      ),
    );
    const epoch = out.Item?.[LOG_ATTR.epoch]?.S;
    return {
      latest: Number(out.Item?.[LOG_ATTR.latest]?.N ?? 0),
      ...(epoch === undefined ? {} : { epoch }),
    };
  }

  async read(
    stream: string,
    since: number,
    nowMs: number,
    limit: number,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<LogRead> {
    // The counter is read alongside the first page; the epoch filter applies once both are in.
    const headPromise = this.head(stream);
    // Awaited only after the pages: if a page read fails first, this read's own failure must not
    // become an unhandled rejection (it would end the Lambda environment, or the local stack).
    headPromise.catch(() => {});
    const messages: LoggedMessage[] = [];
    let expired = false;
    let bytes = 0;
    let truncated = false;
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await dynamoCall('Query', () =>
        this.#client.send(
          new QueryCommand({
            TableName: this.#table,
            KeyConditionExpression: '#stream = :stream AND #seq > :since',
            ExpressionAttributeNames: { '#stream': LOG_ATTR.stream, '#seq': LOG_ATTR.seq },
            ExpressionAttributeValues: { ':stream': { S: stream }, ':since': { N: String(since) } },
            ConsistentRead: true,
            Limit: limit - messages.length,
            ExclusiveStartKey,
          }),
        ),
      );
      for (const item of page.Items ?? []) {
        // DynamoDB deletes expired items late; an expired message is treated as gone.
        if (Number(item[LOG_ATTR.expiresAt]?.N) * 1000 <= nowMs) {
          expired = true;
          continue;
        }
        const dataJson = String(item[LOG_ATTR.data]?.S);
        const size = Buffer.byteLength(dataJson);
        if (messages.length > 0 && bytes + size > maxBytes) {
          truncated = true;
          break;
        }
        bytes += size;
        const epoch = item[LOG_ATTR.epoch]?.S;
        const topic = item[LOG_ATTR.topic]?.S;
        const message: LoggedMessage = {
          seq: Number(item[LOG_ATTR.seq]?.N),
          id: String(item[LOG_ATTR.id]?.S),
          dataJson,
          ts: Number(item[LOG_ATTR.ts]?.N),
          ...(topic === undefined ? {} : { topic }),
          ...(epoch === undefined ? {} : { epoch }),
        };
        messages.push(message);
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey !== undefined && messages.length < limit && !truncated);
    const { latest, epoch } = await headPromise;
    // A message of another epoch outlived its counter (only the counter was removed): it numbers
    // nothing in this epoch. One logged before epochs has none and still counts.
    const current = messages.filter((m) => m.epoch === undefined || m.epoch === epoch);
    return {
      messages: current,
      latest,
      ...(epoch === undefined ? {} : { epoch }),
      ...(expired ? { expired } : {}),
      ...(truncated ? { truncated } : {}),
    };
  }
}

/** Bytes of one epoch: 72 bits, 12 characters of base64url. */
const EPOCH_BYTES = 9;
/** Epochs drawn from the system's random source at once. */
const EPOCHS_PER_DRAW = 64;
let epochPool = Buffer.alloc(0);
let epochOffset = 0;

/**
 * A fresh epoch: 12 random characters of base64url, 72 bits. Every counter update offers one (it
 * is kept only when the stream has none), so they are cut from a pool drawn 64 at a time: a
 * synchronous `randomBytes` call per push was about 1% of the publish handler's CPU.
 */
function newEpoch(): string {
  if (epochOffset + EPOCH_BYTES > epochPool.length) {
    epochPool = randomBytes(EPOCH_BYTES * EPOCHS_PER_DRAW);
    epochOffset = 0;
  }
  const epoch = epochPool.toString('base64url', epochOffset, epochOffset + EPOCH_BYTES);
  epochOffset += EPOCH_BYTES;
  return epoch;
}
