/**
 * Long polls (`ReceiveMessage` with `WaitTimeSeconds`) still waiting when the stack stops. They
 * outlived it: each kept its listener on its queue, and its timer later ran a receive on the
 * stopped stack's queue (counting a receive, which can send a shard job to its dead-letter queue)
 * and wrote its answer to a response the server had destroyed, so the client saw its connection
 * reset (review rev7). The stop now answers them with nothing before it closes the connections.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LocalSqsQueue } from '../../local/queue/sqs-queue';
import { handleSqs, SqsQueueDirectory } from '../../local/sqs-endpoint';
import { within } from '../support/within';
import { stackPerTest, WAIT_MS } from './helpers';

const credentials = { accessKeyId: 'developer', secretAccessKey: 'developer' };
let sqs: SQSClient | undefined;
let server: Server | undefined;
const own = stackPerTest(() => sqs?.destroy());
afterEach(async () => {
  sqs?.destroy();
  sqs = undefined;
  const closing = server;
  server = undefined;
  if (closing !== undefined) {
    closing.closeAllConnections();
    await new Promise<void>((resolve) => closing.close(() => resolve()));
  }
});

/** A long poll of 20 s on `url`: resolves to what it answered, or to the error it met. */
function longPoll(
  client: SQSClient,
  url: string,
): Promise<{ bodies?: (string | undefined)[]; error?: string }> {
  return client.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 20 })).then(
    ({ Messages = [] }) => ({ bodies: Messages.map((m) => m.Body) }),
    (error: unknown) => ({ error: String(error) }),
  );
}

describe('a long poll waiting when the SQS directory stops', () => {
  it('answers with nothing, and no longer listens to its queue', async () => {
    let directory: SqsQueueDirectory | undefined;
    server = createServer((req, res) => {
      void handleSqs(req, res, String(req.headers['x-amz-target']), directory as SqsQueueDirectory);
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const queue = new LocalSqsQueue({ name: 'jobs', region: 'us-east-1', accountId: '000000000000', origin });
    directory = new SqsQueueDirectory([queue]);
    sqs = new SQSClient({ endpoint: origin, region: 'us-east-1', credentials, maxAttempts: 1 });

    const poll = longPoll(sqs, queue.url);
    await vi.waitFor(() => expect(directory?.longPolls).toBe(1), { timeout: WAIT_MS });
    directory.stop();
    // A message that arrives now stays where it is: no forgotten poll receives it.
    queue.send('after the stop');
    expect(queue.counts()).toEqual({ visible: 1, inFlight: 0, delayed: 0 });
    expect(queue.messages().map((m) => m.receiveCount)).toEqual([0]);
    expect(await within(poll, WAIT_MS, 'the answer to the long poll')).toEqual({ bodies: [] });
    expect(directory.longPolls).toBe(0);
    // And a later long poll answers at once instead of waiting.
    queue.purge();
    expect(await longPoll(sqs, queue.url)).toEqual({ bodies: [] });
    expect(directory.longPolls).toBe(0);
  });
});

describe('a long poll waiting when the stack stops', () => {
  it('is answered with nothing before the stack closes its connections', async () => {
    const stack = await own.start();
    sqs = new SQSClient({ endpoint: stack.httpUrl, region: stack.region, credentials, maxAttempts: 1 });
    // The shard dead-letter queue: nothing in the stack receives from it.
    const poll = longPoll(sqs, stack.shardQueue.deadLetterUrl);
    await vi.waitFor(() => expect(stack.emulator.stats.sqs.longPolls).toBe(1), { timeout: WAIT_MS });
    await stack.stop();
    expect(await within(poll, WAIT_MS, 'the answer to the long poll')).toEqual({ bodies: [] });
    expect(stack.emulator.stats.sqs.longPolls).toBe(0);
  });
});
