/**
 * The startup banner `npm start` prints, as built from a running stack: its shard-queue line
 * reads the sharding threshold from the template, and says it in words that fit the number; a
 * Functions line names the functions run in child processes (`--worker-processes`), and only then.
 */
import { GetQueueAttributesCommand, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { startupBanner } from '../../local/banner';
import { SHARD_DLQ_NAME } from '../../local/shard-queue';
import { useTestStack } from './helpers';

describe('startup banner', () => {
  const stack = useTestStack({ shardThreshold: 1 });

  it('names a threshold of one connection in the singular', () => {
    const line = startupBanner(stack, 0)
      .split('\n')
      .find((row) => row.includes('Shard queue (SQS)'));
    expect(line).toContain('(topic and broadcast publishes over 1 connection; ');
  });

  it('shows the AWS SDK publishes with an id, as a backend should send them', () => {
    const banner = startupBanner(stack, 0);
    const bodies = banner.split('\n').filter((row) => /(Payload|Message): JSON\.stringify\(/.test(row));
    expect(bodies).toHaveLength(2);
    for (const body of bodies) expect(body).toContain('id: crypto.randomUUID()');
  });

  it('names the queues where what could not be delivered waits, at URLs the SQS endpoint serves', async () => {
    const line = startupBanner(stack, 0)
      .split('\n')
      .find((row) => row.includes('Dead letters (SQS)'));
    const urls = [...(line ?? '').matchAll(/(http:\/\/\S+) {2}\(([^)]*)\)/g)].map(([, url, what]) => [
      url,
      what,
    ]);
    expect(urls.map(([, what]) => what)).toEqual([
      'shard jobs that failed every run',
      "publishes Lambda's async retries gave up on",
    ]);
    expect(urls[0]?.[0]).toBe(stack.shardQueue.url.replace(/[^/]+$/, SHARD_DLQ_NAME));
    const sqs = new SQSClient({
      endpoint: stack.httpUrl,
      region: stack.region,
      credentials: { accessKeyId: 'developer', secretAccessKey: 'developer' },
    });
    try {
      for (const [url] of urls) {
        const out = await sqs.send(
          new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
        );
        expect(out.Attributes).toEqual({ ApproximateNumberOfMessages: '0' });
      }
    } finally {
      sqs.destroy();
    }
  });

  it('has no Functions line when every function runs in the stack process', () => {
    expect(startupBanner(stack, 0)).not.toMatch(/^ {2}Functions /m);
  });
});

describe('startup banner, with a reserved publish concurrency', () => {
  const stack = useTestStack({ cdk: { props: { publishConcurrency: 7 } } });

  it("states each function's timeout and the reservations the template makes", () => {
    const line = startupBanner(stack, 0)
      .split('\n')
      .find((row) => row.includes('Deployment'));
    expect(line).toContain('$default 10 s, reserved 50; publish 60 s, reserved 7; worker 300 s; ');
  });
});

describe('startup banner, with the shard workers in child processes', () => {
  // One process more than there are worker environments: each process holds one at least.
  const stack = useTestStack({ workerConcurrency: 2, processes: { worker: 3 } });

  it('says which functions run in how many child processes, with their pids, and that the others do not', () => {
    const banner = startupBanner(stack, 0);
    const line = banner.split('\n').find((row) => row.includes('Functions'));
    const pids = stack.processStats('worker')?.pids ?? [];
    expect(pids).toHaveLength(2);
    expect(line).toMatch(/^ {2}Functions {2,}/);
    expect(line).toContain(
      `worker in 2 child processes (pids ${pids.join(', ')}); the other functions in this process`,
    );
  });
});
