/**
 * The authorizer's grant, narrowed by `dynamodb:LeadingKeys` to revocation records, on the running
 * local stack: signed as the authorizer, a GetItem of a uid's revocation record passes the IAM gate
 * and one of a connection's record is refused as DynamoDB refuses it, logged and counted, with the
 * gate in dynalite's process (its policy copied there) and in the stack's process alike; the real
 * authorizer still lets a good token connect and refuses a revoked uid.
 */
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ATTR, REVOCATION_PK, SK } from '../../lambdas/shared/tables';
import type { Logger } from '../../local/logger';
import type { LocalStack, LocalStackOptions } from '../../local/stack';
import { within } from '../support/within';
import {
  closeOpenSockets,
  connect,
  documentClientAs,
  handshakeRefusal,
  postJson,
  startTestStack,
  tokenFor,
  WAIT_MS,
} from './helpers';

const PLACEMENTS: [string, LocalStackOptions][] = [
  ["in dynalite's process", { dynaliteProcess: true }],
  // IAM options of the caller's own keep the gate in the stack's process, asking its enforcer.
  ["in the stack's process", { dynaliteProcess: true, iam: {} }],
];

describe.each(PLACEMENTS)("the authorizer's DynamoDB grant, with the gate %s", (_where, options) => {
  let stack: LocalStack;
  const denials: string[] = [];
  let heard: (() => void) | undefined;
  const logger: Logger = {
    debug() {},
    info() {},
    error() {},
    warn: (message) => {
      if (!message.startsWith('IAM denied')) return;
      denials.push(message);
      heard?.();
    },
  };
  /** The next denial line: a gate in dynalite's process tells it over IPC, apart from its answer. */
  const nextDenial = () => {
    const seen = denials.length;
    return within(
      new Promise<string>((resolve) => {
        heard = () => {
          if (denials.length > seen) resolve(denials[seen] as string);
        };
      }),
      WAIT_MS,
      'the denial to be logged',
    );
  };
  /** The authorizer's own session ARN, as the stack names the signer of its access key. */
  const authorizerArn = () =>
    stack.callers.callerFor(stack.environmentOf('authorizer').AWS_ACCESS_KEY_ID)?.arn as string;
  const getAsAuthorizer = async (pk: string, sk: string) => {
    const client = documentClientAs(stack, 'authorizer');
    try {
      return await client.send(
        new GetCommand({ TableName: stack.tableName, Key: { [ATTR.pk]: pk, [ATTR.sk]: sk } }),
      );
    } finally {
      client.destroy();
    }
  };

  beforeAll(async () => {
    stack = await startTestStack({ ...options, logger });
  }, 60_000);

  afterAll(async () => {
    await closeOpenSockets();
    await stack?.stop();
  });

  it('lets a good token connect: the authorizer reads the revocation record through the gate', async () => {
    expect(stack.functionsDynamodbEndpoint).not.toBe(stack.dynamodbEndpoint);
    const socket = await connect(stack, 'lk-good');
    expect(socket.connectionId).not.toBe('');
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(denials).toEqual([]);
    expect(stack.emulator.stats.iam.denials).toBe(0);
  });

  it("refuses the authorizer a connection's record with AccessDeniedException, logged and counted", async () => {
    const socket = await connect(stack, 'lk-reader');
    const before = stack.emulator.stats.iam.byService.dynamodb;
    const denied = nextDenial();
    const refused = await getAsAuthorizer(socket.connectionId, SK.connection).then(
      () => undefined,
      (error: Error & { $metadata?: { httpStatusCode?: number } }) => error,
    );
    const resource = `arn:aws:dynamodb:us-east-1:000000000000:table/${stack.tableName}`;
    expect(refused?.name).toBe('AccessDeniedException');
    expect(refused?.$metadata?.httpStatusCode).toBe(400);
    expect(refused?.message).toBe(
      `User: ${authorizerArn()} is not authorized to perform: dynamodb:GetItem on resource: ${resource} because no identity-based policy allows the dynamodb:GetItem action`,
    );
    const [, role, session] = (authorizerArn().split(':')[5] ?? '').split('/');
    // The role's statement that names GetItem on the table but holds it to revocation records.
    const caller = stack.callers.callerFor(stack.environmentOf('authorizer').AWS_ACCESS_KEY_ID);
    const [held, ...others] = (caller?.policies ?? []).flatMap((doc) =>
      doc.statements.flatMap((st, index) =>
        st.Condition?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'] === undefined
          ? []
          : [{ policy: doc.name, statement: st.Sid ?? index }],
      ),
    );
    expect(others).toEqual([]);
    const { policy, statement } = held ?? {};
    expect(await denied).toBe(
      `IAM denied ${role} (${session}) dynamodb:GetItem on ${resource}: no statement of its role allows it (${policy} statement ${statement} names it, but its condition does not hold)`,
    );
    // Told before its line, over the same channel: counted by now.
    expect(stack.emulator.stats.iam.byService.dynamodb).toBe(before + 1);
    // The same call on a revocation record passes: there is none for this uid yet.
    const allowed = await getAsAuthorizer(REVOCATION_PK('lk-reader'), SK.revocation);
    expect([allowed.$metadata.httpStatusCode, allowed.Item]).toEqual([200, undefined]);
    expect(denials).toHaveLength(1);
  });

  it('refuses a revoked uid at the handshake, whose revocation record the authorizer reads', async () => {
    const uid = 'lk-revoked';
    const token = await tokenFor(stack, uid);
    const kicked = await postJson(stack, '/publish', { kick: { uid, revoke: true } });
    expect(kicked).toMatchObject({ status: 200, body: { closed: 0, revoked: true } });
    const countBefore = stack.emulator.stats.iam.denials;
    expect(await handshakeRefusal(`${stack.wsUrl}?token=${encodeURIComponent(token)}`)).toMatchObject({
      status: 401,
    });
    const record = await getAsAuthorizer(REVOCATION_PK(uid), SK.revocation);
    expect(record.Item).toMatchObject({ [ATTR.pk]: REVOCATION_PK(uid), [ATTR.sk]: SK.revocation });
    expect(typeof record.Item?.[ATTR.revokedBefore]).toBe('number');
    // Refused by its verdict, not by IAM: no call of the authorizer's was denied.
    expect(stack.emulator.stats.iam.denials).toBe(countBefore);
    expect(denials).toHaveLength(1);
  });
});
