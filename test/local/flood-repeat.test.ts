/**
 * A uid that floods `$default` again soon after its cool-off ended cools off twice as long: with a
 * fixed cool-off, one token could take the route throttle's tokens from every client for as long
 * as its allowance lasts, every time its cool-off ended, for the token's whole day. The cool-off
 * here is 1 s (the `floodCoolOff` prop, read from the template), so its end comes quickly.
 */
import { Duration } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import { ATTR, REVOCATION_PK } from '../../lambdas/shared/tables';
import { within } from '../support/within';
import {
  connect,
  floodUntilClosed,
  handshakeRefusal,
  recordsOf,
  type TestSocket,
  tokenFor,
  useTestStack,
  WAIT_MS,
} from './helpers';

const stack = useTestStack({
  cdk: {
    props: {
      maxSubscriptions: 3,
      frameBurst: 5,
      framesPerSecond: 1,
      frameRefusalsToClose: 10,
      floodCoolOff: Duration.seconds(1),
    },
  },
});

/** The uid's cool-off as its revocation record holds it. */
async function coolOffOf(uid: string): Promise<{ until: unknown; ms: unknown }> {
  const [record] = await recordsOf(stack, REVOCATION_PK(uid));
  return { until: record?.[ATTR.coolOffUntil], ms: record?.[ATTR.coolOffMs] };
}

/** Connects as `uid` as soon as its cool-off lets it: until then each handshake is refused 401. */
async function connectOnceCooled(uid: string): Promise<TestSocket> {
  return within(
    (async () => {
      for (;;) {
        try {
          return await connect(stack, uid);
        } catch (error) {
          expect(String(error)).toMatch(/401/);
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
    })(),
    WAIT_MS * 4,
    `${uid} to connect once its cool-off ended`,
  );
}

describe('a uid flooding again after its cool-off', () => {
  it('cools off twice as long the second time, and as long again while that one stands', async () => {
    const uid = 'flood-again';
    await floodUntilClosed(await connect(stack, uid));
    const first = await coolOffOf(uid);
    expect(first.ms).toBe(1_000);

    const second = await connectOnceCooled(uid);
    expect(Date.now()).toBeGreaterThanOrEqual(first.until as number);
    await floodUntilClosed(second);
    const repeat = await coolOffOf(uid);
    expect(repeat.ms).toBe(2_000);
    expect(repeat.until as number).toBeGreaterThan(first.until as number);
    const token = await tokenFor(stack, uid);
    expect((await handshakeRefusal(`${stack.wsUrl}?token=${encodeURIComponent(token)}`)).status).toBe(401);
  });
});
