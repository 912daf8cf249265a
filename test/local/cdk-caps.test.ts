/**
 * The caps as PushStack props: the local stack builds each function's environment from the
 * synthesized template, so a prop set here changes what the real handlers allow, with no
 * environment variable set by hand.
 */
import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { connect, useTestStack } from './helpers';

const stack = useTestStack({
  cdk: {
    props: {
      maxSubscriptions: 2,
      maxConnectionsPerUid: 2,
      resumesPerWindow: 3,
      resumeWindow: Duration.minutes(5),
    },
  },
});

describe('caps set through the stack props', () => {
  it('reach the handlers through the template', () => {
    expect(stack.environmentOf('default')).toMatchObject({
      [ENV.maxSubscriptions]: '2',
      [ENV.resumesPerWindow]: '3',
      [ENV.resumeWindowSeconds]: '300',
    });
    expect(stack.environmentOf('connect')[ENV.maxConnectionsPerUid]).toBe('2');
  });

  it('refuse the fourth resume on a connection when resumesPerWindow is 3 per 5 minutes', async () => {
    const socket = await connect(stack, 'prop-resumes');
    // Up to one past the default budget: a stack that ignored the props would refuse only there.
    let refusal: Record<string, unknown> | undefined;
    let sent = 0;
    while (refusal === undefined && sent <= LIMITS.resumesPerWindow) {
      sent++;
      const reply = await socket.request({ action: 'resume', since: 0 });
      if (reply.type === 'error') refusal = reply;
      else expect(reply).toEqual({ type: 'resumed', seq: 0 });
    }
    expect(sent).toBe(4);
    expect(refusal).toEqual({
      type: 'error',
      code: 'rate_limited',
      message: 'more than 3 resumes in 300 s on this connection; resume later',
    });
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong', seq: 0 });
  });

  it('refuse a third subscription on a connection when maxSubscriptions is 2', async () => {
    const socket = await connect(stack, 'prop-subs', { topics: ['*'] });
    for (const topic of ['a', 'b']) {
      expect(await socket.request({ action: 'subscribe', topic })).toEqual({ type: 'subscribed', topic });
    }
    expect(await socket.request({ action: 'subscribe', topic: 'c' })).toEqual({
      type: 'error',
      code: 'limit_exceeded',
      message: 'a connection may subscribe to at most 2 topics; unsubscribe from one first',
      topic: 'c',
    });
  });

  it('evict the least recently seen of two connections of a uid when a third connects', async () => {
    const first = await connect(stack, 'prop-conns');
    const second = await connect(stack, 'prop-conns');
    // The first is seen again, so the second is the least recently seen.
    expect((await first.request({ action: 'ping' })).type).toBe('pong');
    await connect(stack, 'prop-conns');
    expect(await second.nextJson()).toEqual({ type: 'kicked', reason: 'connection_limit' });
    expect((await second.waitForClose()).code).toBe(1000);
    expect(first.pending).toBe(0);
  });
});
