import { type DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { PastCoolOff, RevocationLine, Revocations, UidStanding } from '../core/ports';
import { UnavailableError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { ATTR, REVOCATION_PK, SK } from '../shared/tables';
import { conditionalWrite, dynamoCall } from './dynamo';

/**
 * {@link Revocations} as one item per revoked uid in the connections table
 * (`pk = "revoked#<uid>"`, `sk = "revoked"`), expiring with the TTL once no token it refuses can
 * still be valid. The same item holds the uid's flood cool-off, so the authorizer's one read of it
 * answers both. It carries no indexed attribute, so uid, topic and shard reads never see it.
 */
export class DynamoRevocations implements Revocations {
  readonly #doc: DynamoDBDocumentClient;
  readonly #table: string;

  constructor(doc: DynamoDBDocumentClient, tableName: string) {
    this.#doc = doc;
    this.#table = tableName;
  }

  /**
   * One conditional UpdateItem; only when its condition refuses it (the line stands at or past
   * this one already: a retry of the same kick, or a reordered older one, or a record whose expiry
   * reaches past this line's), a second one, and only when that refuses too, a consistent GetItem
   * reads the line that stands (dynalite has no `ReturnValuesOnConditionCheckFailure`).
   */
  async revoke(uid: string, beforeSeconds: number, nowMs: number): Promise<RevocationLine> {
    const key = { [ATTR.pk]: REVOCATION_PK(uid), [ATTR.sk]: SK.revocation };
    const expiresAt = beforeSeconds + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds;
    // A later revoke only ever moves the line forward: a retried or reordered older one cannot
    // let tokens through that a newer one refused. The record's expiry only moves out too: a line
    // sent with an old `before` expires within minutes, and must not take with it a cool-off the
    // record holds, or the memory of one that a repeat flood doubles.
    const written = await this.#setMovingExpiryOut(
      uid,
      [
        ['before', ATTR.revokedBefore, beforeSeconds],
        ['at', ATTR.revokedAt, nowMs],
      ],
      'attribute_not_exists(#before) OR #before < :before',
      expiresAt,
    );
    if (written) return { before: beforeSeconds, revokedAt: nowMs };
    const out = await dynamoCall('GetItem', () =>
      this.#doc.send(new GetCommand({ TableName: this.#table, Key: key, ConsistentRead: true })),
    );
    const before = out.Item?.[ATTR.revokedBefore];
    // Only a line at or past this one refuses the write, and such a line outlives every token
    // this kick could refuse: it cannot have expired and gone in between, short of being deleted
    // by hand. Failing lets the invocation be retried, which writes the line again.
    if (typeof before !== 'number') {
      throw new UnavailableError(`the revocation of ${uid} refused the write but could not be read`);
    }
    const revokedAt = out.Item?.[ATTR.revokedAt];
    // A line written before lines recorded when counts as written now, as every kick did then:
    // it ends all the uid's connections.
    return { before, revokedAt: typeof revokedAt === 'number' ? revokedAt : nowMs };
  }

  async stored(uid: string, beforeSeconds: number, writtenAt: number, storedAt: number): Promise<boolean> {
    return conditionalWrite('UpdateItem', () =>
      this.#doc.send(
        new UpdateCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: REVOCATION_PK(uid), [ATTR.sk]: SK.revocation },
          UpdateExpression: 'SET #at = :stored',
          ConditionExpression: '#before = :before AND #at = :at',
          ExpressionAttributeNames: { '#before': ATTR.revokedBefore, '#at': ATTR.revokedAt },
          ExpressionAttributeValues: { ':before': beforeSeconds, ':at': writtenAt, ':stored': storedAt },
        }),
      ),
    );
  }

  async standing(uid: string, nowMs: number): Promise<UidStanding> {
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
    if (item === undefined) return {};
    // DynamoDB deletes expired items late, and a cool-off may have moved the record's expiry past
    // the line's own: each part is judged by its own end. A line refuses nothing once the record
    // has expired, nor once every token it could refuse has (the expiry its kick wrote).
    const before = item[ATTR.revokedBefore];
    const until = item[ATTR.coolOffUntil];
    const lineLive =
      typeof before === 'number' &&
      Number(item[ATTR.expiresAt]) * 1000 > nowMs &&
      (before + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds) * 1000 > nowMs;
    return {
      ...(lineLive ? { revokedBefore: before } : {}),
      ...(typeof until === 'number' && until > nowMs ? { coolOffUntil: until } : {}),
    };
  }

  /**
   * Conditional writes only, so a longer cool-off and the revocation's expiry are never cut. The
   * first also moves the record's expiry out to the cool-off's end, where that is later (a record
   * made for the cool-off alone, or a revocation about to expire); when the expiry already reaches
   * past it, the second sets the cool-off alone. Both refused: a cool-off at least as long stands.
   */
  async coolOff(uid: string, untilMs: number, ms: number): Promise<void> {
    // Kept past the cool-off's end for as long as a flood then counts as a repeat.
    const expiresAt =
      Math.ceil(untilMs / 1000) + Math.max(LIMITS.expiryMarginSeconds, LIMITS.floodRepeatWindowSeconds);
    await this.#setMovingExpiryOut(
      uid,
      [
        ['until', ATTR.coolOffUntil, untilMs],
        ['ms', ATTR.coolOffMs, ms],
      ],
      'attribute_not_exists(#until) OR #until < :until',
      expiresAt,
    );
  }

  async lastCoolOff(uid: string): Promise<PastCoolOff | undefined> {
    const out = await dynamoCall('GetItem', () =>
      this.#doc.send(
        new GetCommand({
          TableName: this.#table,
          Key: { [ATTR.pk]: REVOCATION_PK(uid), [ATTR.sk]: SK.revocation },
          ProjectionExpression: '#until, #ms',
          ExpressionAttributeNames: { '#until': ATTR.coolOffUntil, '#ms': ATTR.coolOffMs },
          ConsistentRead: true,
        }),
      ),
    );
    const untilMs = out.Item?.[ATTR.coolOffUntil];
    const ms = out.Item?.[ATTR.coolOffMs];
    // A cool-off written before lengths were recorded counts as the plain one: no escalation.
    return typeof untilMs === 'number' && typeof ms === 'number' ? { untilMs, ms } : undefined;
  }

  /**
   * Sets `fields` (placeholder, attribute, value) on the uid's record where `condition` holds, and
   * moves the record's expiry out to `expiresAt` where that is later, never in. DynamoDB has no
   * max(), so it is two conditional writes at most: the first also sets the expiry, the second,
   * when the expiry already reaches past it, the fields alone. False when `condition` refuses.
   */
  async #setMovingExpiryOut(
    uid: string,
    fields: readonly (readonly [placeholder: string, attribute: string, value: number])[],
    condition: string,
    expiresAt: number,
  ): Promise<boolean> {
    const write = (extra: string, expiry: string) =>
      conditionalWrite('UpdateItem', () =>
        this.#doc.send(
          new UpdateCommand({
            TableName: this.#table,
            Key: { [ATTR.pk]: REVOCATION_PK(uid), [ATTR.sk]: SK.revocation },
            UpdateExpression: `SET ${fields.map(([p]) => `#${p} = :${p}`).join(', ')}${extra}`,
            ConditionExpression: `(${condition}) AND (${expiry})`,
            ExpressionAttributeNames: {
              '#exp': ATTR.expiresAt,
              ...Object.fromEntries(fields.map(([p, attribute]) => [`#${p}`, attribute])),
            },
            ExpressionAttributeValues: {
              ':exp': expiresAt,
              ...Object.fromEntries(fields.map(([p, , value]) => [`:${p}`, value])),
            },
          }),
        ),
      );
    return (
      (await write(', #exp = :exp', 'attribute_not_exists(#exp) OR #exp < :exp')) ||
      (await write('', '#exp >= :exp'))
    );
  }
}
