/**
 * One connection's frame allowance on `$default`: a client flooding frames is answered
 * `rate_limited` (the frames run nothing), then closed through the Management API, its
 * `$disconnect` runs and its records go; a neighbour connected all along is served as before. The
 * allowance comes from the CDK app's props, which the local stack reads from the template: small
 * here, so a flood of a few dozen frames crosses it. The flooder's uid is then in its cool-off
 * (60 s, the default): its handshakes are refused with 401. The local stack runs `$default` in one
 * environment, so there is one bucket per connection, as on one warm Lambda environment.
 */
import { describe, expect, it } from 'vitest';
import { frameRateMessage } from '../../lambdas/core/frame-rate';
import { ATTR, REVOCATION_PK } from '../../lambdas/shared/tables';
import { TOO_MANY_REQUESTS, untilServed } from '../support/throttled';
import { within } from '../support/within';
import {
  connect,
  disconnectOf,
  eventOf,
  floodUntilClosed,
  handshakeRefusal,
  holdConnect,
  nextInvocation,
  recordsOf,
  tokenFor,
  useTestStack,
  WAIT_MS,
} from './helpers';

const ALLOWANCE = { maxSubscriptions: 3, frameBurst: 5, framesPerSecond: 1, frameRefusalsToClose: 10 };

const stack = useTestStack({ cdk: { props: ALLOWANCE } });

/** What a frame over the allowance is answered, exactly (README, "Client → server"). */
const RATE_LIMITED = {
  type: 'error',
  code: 'rate_limited',
  message: frameRateMessage({ burst: ALLOWANCE.frameBurst, perSecond: ALLOWANCE.framesPerSecond }),
};

describe('a connection flooding $default', () => {
  it('is answered rate_limited, then closed; its $disconnect removes its records, and a neighbour is served throughout', async () => {
    const neighbour = await connect(stack, 'neighbour', { topics: ['news'] });
    const flooder = await connect(stack, 'flooder', { topics: ['flood'] });
    expect(await flooder.request({ action: 'subscribe', topic: 'flood' })).toEqual({
      type: 'subscribed',
      topic: 'flood',
    });
    expect(await recordsOf(stack, flooder.connectionId)).not.toEqual([]);
    const disconnected = disconnectOf(stack, flooder.connectionId, WAIT_MS * 4);

    const answers = await floodUntilClosed(flooder);

    // Refused with the documented frame once its burst was spent, then closed: nothing else was
    // answered. (Its allowed pings may still be running when the close comes, and a pong for a
    // closed connection is dropped; API Gateway's route throttle may answer a frame itself, which
    // ran nothing either.) The close is the Management API's (1000), not the client's.
    const kinds = answers.map((a) =>
      a.type === 'pong' ? 'pong' : a.message === TOO_MANY_REQUESTS ? 'throttled' : JSON.stringify(a),
    );
    expect(kinds).toContain(JSON.stringify(RATE_LIMITED));
    expect(
      kinds.filter((k) => k !== 'pong' && k !== 'throttled' && k !== JSON.stringify(RATE_LIMITED)),
    ).toEqual([]);
    expect((await flooder.closed).code).toBe(1000);
    const disconnect = await disconnected;
    expect(disconnect.error).toBeUndefined();
    expect(await recordsOf(stack, flooder.connectionId)).toEqual([]);

    // Its uid is cooling off: a fresh token of it is refused at the handshake, with the reason
    // logged, while another uid connects as ever.
    const [cooling] = await recordsOf(stack, REVOCATION_PK('flooder'));
    expect(cooling).toMatchObject({ [ATTR.coolOffUntil]: expect.any(Number) });
    expect(cooling?.[ATTR.revokedBefore]).toBeUndefined();
    const token = await tokenFor(stack, 'flooder', ['flood']);
    expect(await handshakeRefusal(`${stack.wsUrl}?token=${encodeURIComponent(token)}`)).toMatchObject({
      status: 401,
    });
    await (await connect(stack, 'after-flood')).close();

    // The neighbour, connected all along, is answered as before.
    const subscribed = await untilServed(() => neighbour.request({ action: 'subscribe', topic: 'news' }));
    expect(subscribed).toEqual({ type: 'subscribed', topic: 'news' });
    const pong = await untilServed(() => neighbour.request({ action: 'ping' }));
    expect(pong).toEqual({ type: 'pong', ts: expect.any(Number), seq: 0 });
  });

  it('refuses (401) a handshake of the uid that the authorizer let through just before the flood closed its connection', async () => {
    const uid = 'flood-race';
    const flooder = await connect(stack, uid);
    // A second handshake of the uid, held at $connect: the authorizer found no cool-off yet.
    const held = await holdConnect(stack, 'flood-race');
    const connected = nextInvocation(stack, 'connect', () => true, WAIT_MS * 6);
    let heldId = '';
    try {
      const token = await tokenFor(stack, uid, []);
      const refusal = handshakeRefusal(`${stack.wsUrl}?token=${encodeURIComponent(token)}`, {}, WAIT_MS * 6);
      await within(held.reached, WAIT_MS, 'the handshake to reach $connect');
      await floodUntilClosed(flooder);
      expect((await recordsOf(stack, REVOCATION_PK(uid)))[0]).toMatchObject({
        [ATTR.coolOffUntil]: expect.any(Number),
      });
      held.release();
      expect(await refusal).toMatchObject({ status: 401 });
      const record = await connected;
      expect(record.result).toEqual({ statusCode: 401 });
      heldId = eventOf(record).requestContext.connectionId;
    } finally {
      held.release();
      held.restore();
    }
    // $connect stored its record before the read that refused it, and took it back.
    expect(stack.emulator.connectionIds()).not.toContain(heldId);
    expect(await recordsOf(stack, heldId)).toEqual([]);
  });

  it('answers a refused subscribe with its topic, and runs nothing for it: the topic stays unsubscribed', async () => {
    const socket = await connect(stack, 'eager', { topics: ['a', 'b'] });
    // Twice the burst of pings first: the subscribe comes after the burst is spent, however slowly
    // the frames are read (the bucket refills one frame a second, and would need five).
    const pings = 2 * ALLOWANCE.frameBurst;
    for (let i = 0; i < pings; i++) socket.ws.send('{"action":"ping"}');
    socket.ws.send('{"action":"subscribe","topic":"a"}');
    const answers: Record<string, unknown>[] = [];
    for (let i = 0; i <= pings; i++) answers.push(await socket.nextJson());
    expect(answers.filter((a) => 'topic' in a)).toEqual([{ ...RATE_LIMITED, topic: 'a' }]);
    expect((await recordsOf(stack, socket.connectionId)).map((r) => r.sk)).toEqual(['conn']);
  });
});
