/**
 * `GET /metrics`: the handlers' own EMF metric lines, captured from stdout and summed since the
 * stack started, the local stand-in for CloudWatch.
 */
import { describe, expect, it } from 'vitest';
import { prettyLogLine, recordEmf } from '../../local/handler-output';
import { connect, handshakeRefusal, postJson, useTestStack } from './helpers';

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
