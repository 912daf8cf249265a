/**
 * A batch whose invocation runs short of time leaves its waiting items unstarted and fails, so it
 * is retried: the retry must find their ids free at once, not held by the attempt that never ran
 * them. DynamoDB sits behind the fault proxy, whose delay makes the first item use up the time.
 */
import { describe, expect, it } from 'vitest';
import { LIMITS } from '../../lambdas/shared/limits';
import { connect, postJson, useFaultProxyStack } from './helpers';

/**
 * Each DynamoDB call's delay while the first attempt runs. The first item waits on five rounds of
 * calls (both ids' claims, its uid lookup, its seq, its log write beside its post, its id record):
 * its post goes at about 6 s, its end at about 10 s.
 */
const DELAY_MS = 2_000;
/**
 * The publish function's timeout: room for the first item, whose post must still leave one send
 * and the wrap-up (5 s) before the end (7 s left at 6 s), not for the second as well, which may
 * not start with less than `batchStartMarginMs` (5 s) left (3 s left at 10 s).
 */
const PUBLISH_TIMEOUT_MS = LIMITS.batchStartMarginMs + 8_000;

const { stack, proxy } = useFaultProxyStack({ timeoutsMs: { publish: PUBLISH_TIMEOUT_MS } });

describe('a batch item not started for lack of time', () => {
  it('leaves its id free for the retry at once, which delivers it, and the first item once', async () => {
    const socket = await connect(stack, 'late-item');
    const batch = {
      batch: [
        { to: { uid: 'late-item' }, data: 1, id: 'late-1' },
        // The same uid: it waits for the first item, whose calls use up the time.
        { to: { uid: 'late-item' }, data: 2, id: 'late-2' },
      ],
    };

    proxy.faults.delayMs = DELAY_MS;
    const first = await postJson(stack, '/publish', batch);
    proxy.faults.delayMs = 0;

    expect(first).toEqual({
      status: 503,
      body: { error: { code: 'unavailable', message: expect.stringMatching(/^batch\[1\] not started/) } },
    });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'late-1', seq: 1, data: 1 });

    // The retry a 503 asks for, made at once: the first item answers its result, the second runs.
    const retry = await postJson(stack, '/publish', batch);

    expect(retry).toEqual({
      status: 200,
      body: {
        results: [
          { id: 'late-1', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
          { id: 'late-2', connections: 1, delivered: 1, gone: 0, failed: 0, stored: 0 },
        ],
      },
    });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'late-2', seq: 2, data: 2 });
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong', seq: 2 });
  });
});
