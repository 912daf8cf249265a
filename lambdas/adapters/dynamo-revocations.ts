import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Revocations } from '../core/ports';
import { LIMITS } from '../shared/limits';
import { ATTR, REVOCATION_PK, SK } from '../shared/tables';
import { conditionalWrite, dynamoCall } from './dynamo';

/**
 * {@link Revocations} as one item per revoked uid in the connections table
 * (`pk = "revoked#<uid>"`, `sk = "revoked"`), expiring with the TTL once no token it refuses can
 * still be valid. The item carries no indexed attribute, so uid, topic and shard reads never see it.
 */
export class DynamoRevocations implements Revocations {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#table = tableName;
  }

  async revoke(uid: string, beforeSeconds: number): Promise<void> {
    // A later revoke only ever moves the line forward: a retried or reordered older one cannot
    // let tokens through that a newer one refused.
    const expiresAt = beforeSeconds + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds;
    // Refused by its condition, the line already stands at or past this one: nothing to do.
    await conditionalWrite('UpdateItem', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: REVOCATION_PK(uid), [ATTR.sk]: SK.revocation },
          UpdateExpression: 'SET #before = :before, #exp = :exp',
          ConditionExpression: 'attribute_not_exists(#before) OR #before < :before',
          ExpressionAttributeNames: { '#before': ATTR.revokedBefore, '#exp': ATTR.expiresAt },
          ExpressionAttributeValues: { ':before': beforeSeconds, ':exp': expiresAt },
        }),
      ),
    );
  }

  async revokedBefore(uid: string, nowMs: number): Promise<number | undefined> {
    // Strongly consistent: a token revoked a moment ago must not connect on a stale replica.
    const out = await dynamoCall('GetItem', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: REVOCATION_PK(uid), [ATTR.sk]: SK.revocation },
          ConsistentRead: true,
        }),
      ),
    );
    const item = out.Item;
    if (item === undefined) return undefined;
    // DynamoDB deletes expired items late; an expired revocation refuses nothing.
    if (Number(item[ATTR.expiresAt]) * 1000 <= nowMs) return undefined;
    const before = item[ATTR.revokedBefore];
    return typeof before === 'number' ? before : undefined;
  }
}
