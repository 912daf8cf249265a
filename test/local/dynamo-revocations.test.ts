/**
 * The revocation adapter against a real DynamoDB (dynalite, or DynamoDB Local in its pass): the
 * line only moves forward, and every call answers the line that stands with when it was written,
 * so a kick sent again knows which of the uid's connections the first attempt had to end.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoRevocations } from '../../lambdas/adapters/dynamo-revocations';
import { LIMITS } from '../../lambdas/shared/limits';
import { ATTR, CONNECTIONS_TABLE, REVOCATION_PK, SK } from '../../lambdas/shared/tables';
import { ensureTables } from '../../local/dynamo';
import { silentLogger } from '../../local/logger';
import { type BackingDynamo, startBackingDynamo } from './backing-dynamo';

const TABLE = 'Connections';
let backing: BackingDynamo;
let client: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let revocations: DynamoRevocations;

beforeAll(async () => {
  backing = await startBackingDynamo();
  client = new DynamoDBClient({ endpoint: backing.endpoint, region: 'us-east-1' });
  doc = DynamoDBDocumentClient.from(client);
  await ensureTables(client, [{ definition: CONNECTIONS_TABLE, tableName: TABLE }], silentLogger);
  revocations = new DynamoRevocations(doc, TABLE);
});

afterAll(async () => {
  client?.destroy();
  await backing?.stop();
});

async function stored(uid: string): Promise<Record<string, unknown> | undefined> {
  const key = { [ATTR.pk]: REVOCATION_PK(uid), [ATTR.sk]: SK.revocation };
  return (await doc.send(new GetCommand({ TableName: TABLE, Key: key, ConsistentRead: true }))).Item;
}

describe('DynamoRevocations.revoke', () => {
  const t1 = 1_700_000_000_300;
  const before = Math.floor(t1 / 1000);

  it('writes the line with when it was written, and answers it', async () => {
    expect(await revocations.revoke('fresh-uid', before, t1)).toEqual({ before, revokedAt: t1 });
    expect(await stored('fresh-uid')).toEqual({
      [ATTR.pk]: REVOCATION_PK('fresh-uid'),
      [ATTR.sk]: SK.revocation,
      [ATTR.revokedBefore]: before,
      [ATTR.revokedAt]: t1,
      [ATTR.expiresAt]: before + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds,
    });
  });

  it('answers the standing line and its first time when the same line is written again, and keeps it', async () => {
    await revocations.revoke('retried-uid', before, t1);
    // The same kick, retried a minute later.
    expect(await revocations.revoke('retried-uid', before, t1 + 60_000)).toEqual({ before, revokedAt: t1 });
    expect(await stored('retried-uid')).toMatchObject({ [ATTR.revokedBefore]: before, [ATTR.revokedAt]: t1 });
  });

  it('answers the newer line when an older one arrives late', async () => {
    await revocations.revoke('reordered-uid', before + 30, t1 + 30_000);
    expect(await revocations.revoke('reordered-uid', before, t1 + 31_000)).toEqual({
      before: before + 30,
      revokedAt: t1 + 30_000,
    });
    expect(await revocations.standing('reordered-uid', t1 + 31_000)).toEqual({ revokedBefore: before + 30 });
  });

  it('moves the line forward, with its new time', async () => {
    await revocations.revoke('moved-uid', before, t1);
    expect(await revocations.revoke('moved-uid', before + 60, t1 + 60_000)).toEqual({
      before: before + 60,
      revokedAt: t1 + 60_000,
    });
    expect(await stored('moved-uid')).toMatchObject({
      [ATTR.revokedBefore]: before + 60,
      [ATTR.revokedAt]: t1 + 60_000,
    });
  });

  it('treats a line stored without its time, before lines kept one, as written now', async () => {
    await doc.send(
      new PutCommand({
        TableName: TABLE,
        Item: {
          [ATTR.pk]: REVOCATION_PK('old-uid'),
          [ATTR.sk]: SK.revocation,
          [ATTR.revokedBefore]: before,
          [ATTR.expiresAt]: before + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds,
        },
      }),
    );
    expect(await revocations.revoke('old-uid', before, t1 + 5_000)).toEqual({
      before,
      revokedAt: t1 + 5_000,
    });
  });
});

describe('DynamoRevocations.stored', () => {
  const t1 = 1_700_000_000_300;
  const before = Math.floor(t1 / 1000);

  it('stamps the line with when its write was answered, and a retry reads that time', async () => {
    await revocations.revoke('late-uid', before, t1);
    expect(await revocations.stored('late-uid', before, t1, t1 + 1_500)).toBe(true);
    expect(await revocations.revoke('late-uid', before, t1 + 60_000)).toEqual({
      before,
      revokedAt: t1 + 1_500,
    });
  });

  it('leaves a line that moved on, or was stamped already, as it stands', async () => {
    await revocations.revoke('moved-uid', before, t1);
    await revocations.revoke('moved-uid', before + 60, t1 + 60_000);
    expect(await revocations.stored('moved-uid', before, t1, t1 + 1_500)).toBe(false);
    expect(await stored('moved-uid')).toMatchObject({
      [ATTR.revokedBefore]: before + 60,
      [ATTR.revokedAt]: t1 + 60_000,
    });
    await revocations.revoke('stamped-uid', before, t1);
    await revocations.stored('stamped-uid', before, t1, t1 + 1_500);
    expect(await revocations.stored('stamped-uid', before, t1, t1 + 9_000)).toBe(false);
    expect(await stored('stamped-uid')).toMatchObject({ [ATTR.revokedAt]: t1 + 1_500 });
  });
});

describe('DynamoRevocations cool-off', () => {
  const now = 1_700_000_000_000;
  const until = now + 60_000;

  it('records a cool-off for a uid with no revocation, which standing answers until it ends', async () => {
    await revocations.coolOff('cool-fresh', until, 60_000);
    expect(await stored('cool-fresh')).toEqual({
      [ATTR.pk]: REVOCATION_PK('cool-fresh'),
      [ATTR.sk]: SK.revocation,
      [ATTR.coolOffUntil]: until,
      [ATTR.coolOffMs]: 60_000,
      [ATTR.expiresAt]: until / 1000 + LIMITS.floodRepeatWindowSeconds,
    });
    expect(await revocations.standing('cool-fresh', now)).toEqual({ coolOffUntil: until });
    expect(await revocations.standing('cool-fresh', until)).toEqual({});
  });

  it('keeps a longer cool-off standing', async () => {
    await revocations.coolOff('cool-longer', until + 60_000, 60_000);
    await revocations.coolOff('cool-longer', until, 60_000);
    expect((await stored('cool-longer'))?.[ATTR.coolOffUntil]).toBe(until + 60_000);
  });

  it("never shortens a revocation's expiry, and a revocation written after it keeps the cool-off", async () => {
    const before = Math.floor(now / 1000);
    const revocationExpiry = before + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds;
    await revocations.revoke('cool-revoked', before, now);
    await revocations.coolOff('cool-revoked', until, 60_000);
    expect(await stored('cool-revoked')).toMatchObject({
      [ATTR.revokedBefore]: before,
      [ATTR.coolOffUntil]: until,
      [ATTR.expiresAt]: revocationExpiry,
    });
    expect(await revocations.standing('cool-revoked', now)).toEqual({
      revokedBefore: before,
      coolOffUntil: until,
    });

    await revocations.coolOff('cool-then-revoked', until, 60_000);
    await revocations.revoke('cool-then-revoked', before, now);
    expect(await revocations.standing('cool-then-revoked', now)).toEqual({
      revokedBefore: before,
      coolOffUntil: until,
    });
  });

  it('moves the expiry of a revocation about to expire out to the end of the cool-off', async () => {
    // A line written a day ago: its record expires in a few minutes, before a cool-off would end.
    const lateUntil = now + 3_600_000;
    const before = Math.floor(now / 1000) - LIMITS.maxTokenLifetimeSeconds;
    await revocations.revoke('cool-old-line', before, now - LIMITS.maxTokenLifetimeSeconds * 1000);
    await revocations.coolOff('cool-old-line', lateUntil, 60_000);
    expect((await stored('cool-old-line'))?.[ATTR.expiresAt]).toBe(
      lateUntil / 1000 + LIMITS.floodRepeatWindowSeconds,
    );
    expect(await revocations.standing('cool-old-line', now)).toEqual({
      revokedBefore: before,
      coolOffUntil: lateUntil,
    });
    // The line ends when its own tokens would have, though the record now lasts longer.
    const lineEnds = (before + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds) * 1000;
    expect(await revocations.standing('cool-old-line', lineEnds)).toEqual({ coolOffUntil: lateUntil });
  });

  it('remembers the latest cool-off and its length past its end, for a repeat to double', async () => {
    expect(await revocations.lastCoolOff('cool-none')).toBeUndefined();
    await revocations.coolOff('cool-last', until, 60_000);
    expect(await revocations.lastCoolOff('cool-last')).toEqual({ untilMs: until, ms: 60_000 });
    // The repeat's: later and longer, so it stands over the first.
    await revocations.coolOff('cool-last', until + 600_000, 120_000);
    expect(await revocations.lastCoolOff('cool-last')).toEqual({ untilMs: until + 600_000, ms: 120_000 });
    // A revocation on the record is not a cool-off.
    await revocations.revoke('cool-line-only', Math.floor(now / 1000), now);
    expect(await revocations.lastCoolOff('cool-line-only')).toBeUndefined();
  });

  it("keeps a cool-off's expiry, and so the memory a repeat flood doubles from, when a line sent with an old before is written", async () => {
    // A kick's `before` may be up to a day old: its line's own expiry is then minutes away, earlier
    // than the record's, which a cool-off set to its end plus the repeat window.
    const coolOffExpiry = Math.ceil(until / 1000) + LIMITS.floodRepeatWindowSeconds;
    await revocations.coolOff('cool-old-kick', until, 120_000);
    const before = Math.floor(now / 1000) - LIMITS.maxTokenLifetimeSeconds + 60;
    expect(before + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds).toBeLessThan(coolOffExpiry);
    expect(await revocations.revoke('cool-old-kick', before, now)).toEqual({ before, revokedAt: now });
    expect(await stored('cool-old-kick')).toMatchObject({
      [ATTR.revokedBefore]: before,
      [ATTR.revokedAt]: now,
      [ATTR.coolOffUntil]: until,
      [ATTR.coolOffMs]: 120_000,
      [ATTR.expiresAt]: coolOffExpiry,
    });
    expect(await revocations.lastCoolOff('cool-old-kick')).toEqual({ untilMs: until, ms: 120_000 });
    // The line still moves only forward, and a newer line's later expiry is written.
    expect(await revocations.revoke('cool-old-kick', before - 1, now + 1)).toEqual({
      before,
      revokedAt: now,
    });
    const newer = Math.floor(now / 1000);
    await revocations.revoke('cool-old-kick', newer, now + 2);
    expect((await stored('cool-old-kick'))?.[ATTR.expiresAt]).toBe(
      newer + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds,
    );
  });

  it('does not bring back an expired line that DynamoDB has not deleted yet', async () => {
    const before = Math.floor(now / 1000) - 3 * 24 * 60 * 60;
    await revocations.revoke('cool-expired-line', before, before * 1000);
    expect(await revocations.standing('cool-expired-line', now)).toEqual({});
    await revocations.coolOff('cool-expired-line', until, 60_000);
    expect(await revocations.standing('cool-expired-line', now)).toEqual({ coolOffUntil: until });
  });
});
