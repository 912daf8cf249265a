/**
 * `GET /metrics`: the handlers' own EMF metric lines, captured from stdout and summed since the
 * stack started, the local stand-in for CloudWatch.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { describe, expect, it } from 'vitest';
import { prettyLogLine, recordEmf } from '../../local/handler-output';
import { connect, handshakeRefusal, nextInvocation, postJson, useTestStack } from './helpers';

const stack = useTestStack();

async function metrics(): Promise<
  Record<string, { unit: string; samples: number; sum: number; max: number }>
> {
  const res = await fetch(`${stack.httpUrl}/metrics`);
  expect(res.status).toBe(200);
  const body = (await res.json()) as { since: number; metrics: Record<string, never> };
  expect(body.since).toBeLessThanOrEqual(Date.now());
  return body.metrics;
}

describe('GET /metrics', () => {
  it('counts connects, denials, publishes and deliveries from the handlers’ own EMF output', async () => {
    const before = await metrics();
    const sum = (m: Record<string, { sum: number }>, name: string) => m[name]?.sum ?? 0;
    const a = await connect(stack, 'metered');
    await connect(stack, 'metered');
    expect((await handshakeRefusal(`${stack.wsUrl}?token=forged.token.value`)).status).toBe(401);
    expect((await postJson(stack, '/publish', { to: { uid: 'metered' }, data: 1 })).body).toMatchObject({
      delivered: 2,
    });
    await a.nextJson();

    const after = await metrics();
    expect(sum(after, 'Connects') - sum(before, 'Connects')).toBe(2);
    expect(sum(after, 'AuthorizerDenials') - sum(before, 'AuthorizerDenials')).toBe(1);
    expect(sum(after, 'Publishes') - sum(before, 'Publishes')).toBe(1);
    expect(sum(after, 'Delivered') - sum(before, 'Delivered')).toBe(2);
    expect(after.FanOutDuration?.unit).toBe('Milliseconds');
  });

  it('counts a request refused for its input as RejectedRequests, an asynchronous one included', async () => {
    // An Event invoke's answer goes to no one: the count is what tells an operator it was refused.
    const lambda = new LambdaClient({ endpoint: stack.httpUrl, maxAttempts: 1 });
    try {
      const before = (await metrics()).RejectedRequests?.sum ?? 0;
      const refused = nextInvocation(stack, 'publish');
      const out = await lambda.send(
        new InvokeCommand({
          FunctionName: 'publish',
          InvocationType: 'Event',
          Payload: '{"to":{"user":"u1"},"data":1}',
        }),
      );
      expect(out.StatusCode).toBe(202);
      expect((await refused).result).toMatchObject({ error: { code: 'bad_request' } });
      expect((await postJson(stack, '/publish', { to: { uid: '' }, data: 1 })).status).toBe(400);
      expect((await metrics()).RejectedRequests?.sum).toBe(before + 2);
    } finally {
      lambda.destroy();
    }
  });

  it("counts GET /publish/<id> of an unknown id as RejectedRequests: the publish function's direct invoke answered not_found", async () => {
    const before = (await metrics()).RejectedRequests?.sum ?? 0;
    const lookup = nextInvocation(stack, 'publish');
    const response = await fetch(`${stack.httpUrl}/publish/nope`);
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual({
      error: { code: 'not_found', message: expect.any(String) },
    });
    expect((await lookup).event).toEqual({ status: 'nope' });
    expect((await metrics()).RejectedRequests?.sum).toBe(before + 1);
    // An id the local front refuses itself never reaches the function, and is not counted.
    expect((await fetch(`${stack.httpUrl}/publish/${'x'.repeat(300)}`)).status).toBe(400);
    expect((await metrics()).RejectedRequests?.sum).toBe(before + 1);
  });
});

describe('handler output', () => {
  it('reads every value of an EMF line, arrays included', () => {
    expect(
      recordEmf({
        _aws: { CloudWatchMetrics: [{ Metrics: [{ Name: 'UnitTestMetric', Unit: 'Count' }] }] },
        UnitTestMetric: [1, 2],
      }),
    ).toBe(true);
    expect(recordEmf({ level: 'INFO', message: 'not metrics' })).toBe(false);
  });

  it('prints a Powertools log line as one readable line', () => {
    expect(
      prettyLogLine({
        level: 'INFO',
        message: 'connected',
        timestamp: '2026-11-22T01:02:03.456Z',
        service: 'push',
        connectionId: 'abc=',
        uid: 'u1',
      }),
    ).toBe('01:02:03.456 info  push: connected connectionId=abc= uid=u1\n');
    expect(prettyLogLine({ something: 'else' })).toBeUndefined();
  });
});
