/**
 * The frame allowance a uid's connections share on `$default`: a flood spread over several
 * connections of one uid, each of them within its own allowance, is answered `rate_limited` with
 * the uid's message once the uid's is spent, then every connection of the uid is closed through
 * the Management API and the uid cools off; a neighbour uid is served throughout. The allowances
 * come from the CDK app's props, which the local stack reads from the template: small here, so a
 * flood of a few dozen frames crosses the uid's and never a connection's. The local stack runs
 * `$default` in one environment, as one warm Lambda environment would.
 */
import { describe, expect, it, vi } from 'vitest';
import { frameRateMessage, uidFrameRateMessage } from '../../lambdas/core/frame-rate';
import { ATTR, REVOCATION_PK } from '../../lambdas/shared/tables';
import { TOO_MANY_REQUESTS, untilServed } from '../support/throttled';
import {
  connect,
  floodInTurn,
  handshakeRefusal,
  recordsOf,
  type TestSocket,
  tokenFor,
  useTestStack,
} from './helpers';

const CONNECTIONS = 4;
const ALLOWANCE = {
  maxSubscriptions: 3,
  maxConnectionsPerUid: CONNECTIONS,
  frameBurst: 6,
  framesPerSecond: 1,
  frameRefusalsToClose: 10,
  uidFrameBurst: 8,
  uidFramesPerSecond: 1,
};

// Warnings on, so the test reads $default's own account of the close, as CloudWatch would get it.
const stack = useTestStack({ cdk: { props: ALLOWANCE }, environment: { POWERTOOLS_LOG_LEVEL: 'WARN' } });

/** What a frame over the uid's allowance is answered, exactly (README, "Client → server"). */
const UID_LIMITED = JSON.stringify({
  type: 'error',
  code: 'rate_limited',
  message: uidFrameRateMessage({ burst: ALLOWANCE.uidFrameBurst, perSecond: ALLOWANCE.uidFramesPerSecond }),
});
const CONNECTION_LIMITED = frameRateMessage({
  burst: ALLOWANCE.frameBurst,
  perSecond: ALLOWANCE.framesPerSecond,
});

describe("a flood spread over a uid's connections", () => {
  it('is answered rate_limited for the uid, then every connection of the uid is closed and the uid cools off; a neighbour is served', async () => {
    const neighbour = await connect(stack, 'calm', { topics: ['news'] });
    const sockets: TestSocket[] = [];
    for (let i = 0; i < CONNECTIONS; i++) sockets.push(await connect(stack, 'spread'));

    // $default's warning, as CloudWatch would get it: how many connections the uid's close reached.
    // It is written once the closes are answered, which can be after the sockets saw them close.
    const lines: string[] = [];
    let logged = () => {};
    const closingLogged = new Promise<void>((resolve) => {
      logged = resolve;
    });
    const spies = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk) => {
        lines.push(String(chunk));
        if (String(chunk).includes('uid closed for flooding')) logged();
        return true;
      }),
    );
    let answers: string[];
    try {
      answers = await floodInTurn(sockets);
      await closingLogged;
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    const closings = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('uid closed for flooding'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(closings.map(({ uid, closed }) => ({ uid, closed }))).toEqual([
      { uid: 'spread', closed: CONNECTIONS },
    ]);

    const kinds = answers.map((a) => {
      const parsed = JSON.parse(a) as Record<string, unknown>;
      return parsed.type === 'pong' ? 'pong' : parsed.message === TOO_MANY_REQUESTS ? 'throttled' : a;
    });
    // The uid's allowance refused first, up to the refusal that closed them all, before any
    // connection's own allowance was met. Frames still on their way were refused after that too,
    // by the uid's or, once their own tokens were spent on refused frames, by the connection's.
    const firstOwn = kinds.findIndex((k) => k.includes(CONNECTION_LIMITED));
    const beforeOwn = firstOwn === -1 ? kinds : kinds.slice(0, firstOwn);
    expect(beforeOwn.filter((k) => k === UID_LIMITED).length).toBeGreaterThanOrEqual(
      ALLOWANCE.frameRefusalsToClose - 1,
    );
    expect(
      kinds.filter(
        (k) => k !== 'pong' && k !== 'throttled' && k !== UID_LIMITED && !k.includes(CONNECTION_LIMITED),
      ),
    ).toEqual([]);
    // Every one of them was closed by the Management API (1000), not by the client.
    expect((await Promise.all(sockets.map((s) => s.closed))).map((c) => c.code)).toEqual(
      sockets.map(() => 1000),
    );

    const [cooling] = await recordsOf(stack, REVOCATION_PK('spread'));
    expect(cooling).toMatchObject({ [ATTR.coolOffUntil]: expect.any(Number) });
    const token = await tokenFor(stack, 'spread', []);
    expect(await handshakeRefusal(`${stack.wsUrl}?token=${encodeURIComponent(token)}`)).toMatchObject({
      status: 401,
    });

    // Another uid, connected all along, has an allowance of its own.
    const subscribed = await untilServed(() => neighbour.request({ action: 'subscribe', topic: 'news' }));
    expect(subscribed).toEqual({ type: 'subscribed', topic: 'news' });
  });
});
