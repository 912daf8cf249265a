import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createPushClient, type PushClient } from '../../client/index';
import { ATTR, SK } from '../../lambdas/shared/tables';
import { documentClient, eventOf, nextInvocation, publishOk, stackPerTest } from '../local/helpers';
import { collect, nextEvent } from './testing/events';

/**
 * The client when the server ends its socket because the token expired: real sockets against the
 * local stack, the real handlers. The connection record's `tokenExp` is moved into the past, as
 * the clock would, so the server's expiry path runs at once.
 */
let client: PushClient | undefined;
const own = stackPerTest(() => {
  client?.close();
  client = undefined;
});

describe('token expiry, as the client sees it', () => {
  it('fetches a fresh token on expired, reconnects at once and gets what was published meanwhile, once', async () => {
    const running = await own.start();
    const tokens: string[] = [];
    client = createPushClient({
      url: running.wsUrl,
      WebSocket,
      // A backoff this long would fail the test: the reconnect after expired must not wait for it.
      backoffBaseMs: 60_000,
      token: async () => {
        const response = await fetch(`${running.httpUrl}/dev/token?uid=u-expiry`);
        const { token } = (await response.json()) as { token: string };
        tokens.push(token);
        return token;
      },
    });
    const errors: string[] = [];
    client.on('error', (error) => errors.push(error.code));
    const { messages, until } = collect(client);
    const firstConnect = nextInvocation(running, 'connect');
    await nextEvent(client, 'status', (status) => status === 'open');
    const first = eventOf(await firstConnect).requestContext.connectionId;
    await publishOk(running, { to: { uid: 'u-expiry' }, data: { n: 1 }, id: 'before' });
    await until(1);

    const doc = documentClient(running);
    try {
      await doc.send(
        new UpdateCommand({
          TableName: running.tableName,
          Key: { [ATTR.pk]: first, [ATTR.sk]: SK.connection },
          UpdateExpression: 'SET #e = :e',
          ExpressionAttributeNames: { '#e': ATTR.tokenExp },
          ExpressionAttributeValues: { ':e': Math.floor(Date.now() / 1000) - 1 },
        }),
      );
    } finally {
      doc.destroy();
    }
    const reconnected = nextInvocation(running, 'connect');
    // The server finds the token expired: it sends expired instead of this message, and closes.
    expect(await publishOk(running, { to: { uid: 'u-expiry' }, data: { n: 2 }, id: 'after' })).toMatchObject({
      delivered: 0,
      gone: 1,
    });
    expect(eventOf(await reconnected).requestContext.connectionId).not.toBe(first);
    await until(2);
    expect(messages.map((m) => [m.id, m.seq])).toEqual([
      ['before', 1],
      ['after', 2],
    ]);
    expect(tokens).toHaveLength(2);
    expect(errors).toEqual([]);
    expect(client.status).toBe('open');
    expect(client.seq).toBe(2);
  });
});
