/**
 * The publish and worker functions' SQS client against a real HTTP server on port 0 that holds its
 * first request forever, as a stuck socket does: the attempt is cut after
 * LIMITS.sqsRequestTimeoutMs and the SDK's retry, on another socket, gets the answer. Without a
 * request timeout a continuation's send would hold the worker past its stop margin, into a kill.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SendMessageCommand } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../lambdas/shared/limits';
import { sqsClient } from '../../lambdas/wiring';

describe('an SQS request that never gets an answer', () => {
  it('is cut and retried, and the retry answers', {
    timeout: LIMITS.sqsRequestTimeoutMs + 10_000,
  }, async () => {
    const held: ServerResponse[] = [];
    let requests = 0;
    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      let body = '';
      req.on('data', (chunk: Buffer) => {
        body += chunk.toString('utf8');
      });
      req.on('end', () => {
        requests++;
        if (requests === 1) {
          held.push(res);
          return;
        }
        // The SDK checks the body's MD5 against the one SQS answers.
        const sent = (JSON.parse(body) as { MessageBody: string }).MessageBody;
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(
          JSON.stringify({
            MessageId: 'm-1',
            MD5OfMessageBody: createHash('md5').update(sent).digest('hex'),
          }),
        );
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/000000000000/push-shard-jobs`;
    const client = sqsClient();
    try {
      const out = await client.send(new SendMessageCommand({ QueueUrl: url, MessageBody: '{"job":1}' }));
      expect(out.MessageId).toBe('m-1');
      expect(requests).toBe(2);
    } finally {
      client.destroy();
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
