/**
 * Stopping the stack in order: the gateway and the functions first, then the endpoints, then
 * DynamoDB. A publish in flight at the stop finishes its write while DynamoDB is still up; one
 * that outlives the grace is cut, and its later write never lands. DynamoDB here is a backing
 * store that outlives the stack, so what landed can be read after the stop.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PUBLISH_ATTR } from '../../lambdas/shared/tables';
import type { LocalStack, LocalStackOptions } from '../../local/stack';
import { type BackingDynamo, startBackingDynamo } from './backing-dynamo';
import { documentClientAs, startTestStack } from './helpers';

/** A promise the test settles by hand. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const item = (key: string) => ({ [PUBLISH_ATTR.id]: key, [PUBLISH_ATTR.part]: 'stop-test' });

let backing: BackingDynamo;
const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeAll(async () => {
  backing = await startBackingDynamo();
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  expect(unhandled).toEqual([]);
});
afterAll(async () => {
  process.off('unhandledRejection', onUnhandled);
  await backing.stop();
});

/** Reads a Publishes item straight from the backing store, which the stack's stop leaves running. */
async function landed(stack: LocalStack, key: string): Promise<unknown> {
  const doc = DynamoDBDocumentClient.from(
    new DynamoDBClient({
      endpoint: backing.endpoint,
      region: stack.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    }),
  );
  try {
    const out = await doc.send(
      new GetCommand({ TableName: stack.tableNames.Publishes, Key: item(key), ConsistentRead: true }),
    );
    return out.Item;
  } finally {
    doc.destroy();
  }
}

/**
 * Replaces the publish handler with one that says it runs, waits for `held`, then writes
 * `key` to Publishes as the publish function (its credentials, through the stack's IAM gate), and
 * reports the write's outcome.
 */
function slowPublish(stack: LocalStack, key: string) {
  const running = gate();
  const held = gate();
  let report!: (outcome: unknown) => void;
  const outcome = new Promise<unknown>((resolve) => {
    report = resolve;
  });
  const client = documentClientAs(stack, 'publish');
  stack.emulator.setHandler('publish', async () => {
    running.open();
    await held.opened;
    const written = await client
      .send(new PutCommand({ TableName: stack.tableNames.Publishes, Item: item(key) }))
      .then(
        () => 'written',
        (error: unknown) => error,
      );
    client.destroy();
    report(written);
    return { id: key, connections: 0, delivered: 0, gone: 0, failed: 0, stored: 0 };
  });
  return { running: running.opened, release: held.open, outcome };
}

function publish(stack: LocalStack): Promise<number | Error> {
  return fetch(`${stack.httpUrl}/publish`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ to: { uid: 'nobody' }, data: 1 }),
  }).then(
    (res) => res.status,
    (error: Error) => error,
  );
}

/** A stack (on the backing store) with a slow publish running in it. */
async function withPublishInFlight(key: string, options: LocalStackOptions = {}) {
  const stack = await startTestStack({ dynamodbEndpoint: backing.endpoint, ...options });
  const slow = slowPublish(stack, key);
  const answer = publish(stack);
  await slow.running;
  return { stack, slow, answer };
}

describe('stopping the stack', () => {
  it('lets a publish in flight finish its DynamoDB write before DynamoDB closes', async () => {
    const { stack, slow, answer } = await withPublishInFlight('finished-in-grace');

    const stopped = stack.stop();
    slow.release();
    await stopped;

    expect(await slow.outcome).toBe('written');
    expect(await answer).toBe(200);
    expect(await landed(stack, 'finished-in-grace')).toEqual(item('finished-in-grace'));
  });

  it('cuts a publish that outlives the grace: the stop ends, and its later write never lands', async () => {
    const { stack, slow, answer } = await withPublishInFlight('cut-at-stop', { stopGraceMs: 100 });

    await stack.stop();
    slow.release();

    expect(await slow.outcome).toMatchObject({ name: 'InvocationCutError', code: 'invocation_cut' });
    expect(await answer).toBeInstanceOf(Error);
    expect(await landed(stack, 'cut-at-stop')).toBeUndefined();
  });

  it('refuses an invocation asked for while it stops', async () => {
    const { stack, slow, answer: first } = await withPublishInFlight('first-of-two');

    const stopped = stack.stop();
    const second = await publish(stack);
    slow.release();
    await stopped;

    // A stopping stack is the function failing, not the caller: 503, retry with the same id.
    expect(second).toBe(503);
    expect(await first).toBe(200);
  });
});
