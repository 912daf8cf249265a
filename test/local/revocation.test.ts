/**
 * Revocation and token expiry through the running local stack: the real authorizer, `$connect`,
 * `$default` and publish handlers, real sockets, and records read back from dynalite.
 */
import { randomUUID } from 'node:crypto';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { secretKey, signToken } from '../../lambdas/core/token';
import { LIMITS } from '../../lambdas/shared/limits';
import { ATTR, REVOCATION_PK, SK } from '../../lambdas/shared/tables';
import { within } from '../support/within';
import {
  connect,
  documentClient,
  eventOf,
  handshakeRefusal,
  holdConnect,
  holdConnectAnswer,
  nextInvocation,
  postJson,
  recordsOf,
  stackPerTest,
  TestSocket,
  useTestStack,
  WAIT_MS,
  whenOpen,
} from './helpers';

const stack = useTestStack();
const nowSeconds = () => Math.floor(Date.now() / 1000);

/**
 * Time a token that is to expire during a test leaves its handshakes to pass the authorizer, which
 * refuses it from its `exp` on. A token expiring at the next whole second left them anything from
 * a second down to nothing, wherever in the current second the test began (begun in its last few
 * milliseconds, they were refused 401).
 */
const HANDSHAKE_ROOM_MS = 1_000;

/** The first whole second (epoch seconds) at least {@link HANDSHAKE_ROOM_MS} from now. */
const expiryAfterHandshakes = () => Math.ceil((Date.now() + HANDSHAKE_ROOM_MS) / 1000);

/** Opens a socket with exactly this token; resolves once `$connect` has stored it. */
async function openWith(token: string): Promise<TestSocket> {
  const tag = randomUUID();
  const connected = nextInvocation(stack, 'connect', (r) => eventOf(r).headers?.['x-test-socket'] === tag);
  const ws = new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(token)}`, {
    headers: { 'x-test-socket': tag },
  });
  const socket = new TestSocket(ws, stack);
  await whenOpen(ws, 'the socket to open');
  socket.connectionId = eventOf(await connected).requestContext.connectionId;
  return socket;
}

function tokenAt(uid: string, issuedMs: number, ttlSeconds = 600): Promise<string> {
  return signToken({ uid, ttlSeconds, nowMs: issuedMs }, secretKey(stack.tokenSecret));
}

/** Sets one attribute of a stored record, as time passing would. */
async function setAttribute(pk: string, sk: string, name: string, value: number): Promise<void> {
  const doc = documentClient(stack);
  try {
    await doc.send(
      new UpdateCommand({
        TableName: stack.tableName,
        Key: { [ATTR.pk]: pk, [ATTR.sk]: sk },
        UpdateExpression: 'SET #a = :v',
        ExpressionAttributeNames: { '#a': name },
        ExpressionAttributeValues: { ':v': value },
      }),
    );
  } finally {
    doc.destroy();
  }
}

describe('kick with revoke', () => {
  it('closes the sockets and refuses the same token at the handshake; a token issued later connects', async () => {
    const uid = 'revoke-me';
    const old = await tokenAt(uid, Date.now() - 10_000);
    const socket = await openWith(old);
    // A message waits in the uid's log: a resume with the old token would replay it.
    await postJson(stack, '/publish', { to: { uid }, data: { secret: 1 }, id: 'before-revoke' });
    expect(await socket.nextJson()).toMatchObject({ type: 'message', id: 'before-revoke' });

    const { status, body } = await postJson(stack, '/publish', {
      kick: { uid, reason: 'stolen', revoke: true },
    });
    expect({ status, body }).toEqual({ status: 200, body: { closed: 1, revoked: true } });
    expect(await socket.nextJson()).toEqual({ type: 'kicked', reason: 'stolen' });
    await socket.waitForClose();

    const url = (token: string) => `${stack.wsUrl}?token=${encodeURIComponent(token)}`;
    expect(await handshakeRefusal(url(old))).toMatchObject({ status: 401 });
    // Tokens issued in the revocation's own second are refused as well (one-second resolution).
    const [revocation] = await recordsOf(stack, REVOCATION_PK(uid));
    const revokedAtMs = (revocation?.[ATTR.revokedBefore] as number) * 1000;
    expect(await handshakeRefusal(url(await tokenAt(uid, revokedAtMs + 999)))).toMatchObject({ status: 401 });
    const noIat = await new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(uid)
      .setExpirationTime(nowSeconds() + 600)
      .sign(secretKey(stack.tokenSecret));
    expect(await handshakeRefusal(url(noIat))).toMatchObject({ status: 401 });
    // Other uids are untouched.
    expect((await connect(stack, 'revoke-bystander')).connectionId).not.toBe('');

    const fresh = await openWith(await tokenAt(uid, revokedAtMs + 1_000));
    expect(await fresh.request({ action: 'resume', since: 0 })).toMatchObject({ type: 'message' });
    await fresh.close();
  });

  it('keeps the session opened since when the same kick with before is sent again, and still refuses the old token', async () => {
    // "Log out other sessions": kick with revoke, then the current tab gets a new token. The kick's
    // answer was lost, so the caller sends the identical body again.
    const uid = 'revoke-retried';
    const old = await tokenAt(uid, Date.now() - 10_000);
    const other = await openWith(old);
    const before = nowSeconds();
    const body = { kick: { uid, reason: 'signed out elsewhere', revoke: true, before } };
    expect(await postJson(stack, '/publish', body)).toMatchObject({
      status: 200,
      body: { closed: 1, revoked: true },
    });
    expect(await other.nextJson()).toEqual({ type: 'kicked', reason: 'signed out elsewhere' });
    await other.waitForClose();
    const [revocation] = await recordsOf(stack, REVOCATION_PK(uid));
    expect(revocation?.[ATTR.revokedBefore]).toBe(before);
    // The new session is made once the line and its skew allowance have passed.
    const madeAfter = (revocation?.[ATTR.revokedAt] as number) + LIMITS.clockSkewMs;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, madeAfter + 1 - Date.now())));
    const current = await openWith(await tokenAt(uid, (before + 1) * 1000));

    expect(await postJson(stack, '/publish', body)).toMatchObject({
      status: 200,
      body: { closed: 0, revoked: true },
    });
    // Nothing reached the current session before its pong: no `kicked`, no close.
    expect(await current.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect((await recordsOf(stack, REVOCATION_PK(uid)))[0]).toMatchObject({
      [ATTR.revokedBefore]: before,
      [ATTR.revokedAt]: revocation?.[ATTR.revokedAt],
    });
    expect(await handshakeRefusal(`${stack.wsUrl}?token=${encodeURIComponent(old)}`)).toMatchObject({
      status: 401,
    });
    await current.close();
  });

  it('stores the revocation with an expiry no refused token can outlive', async () => {
    const before = nowSeconds();
    await postJson(stack, '/publish', { kick: { uid: 'revoke-record', revoke: true } });
    const [record] = await recordsOf(stack, REVOCATION_PK('revoke-record'));
    expect(record?.[ATTR.sk]).toBe(SK.revocation);
    expect(record?.[ATTR.revokedBefore]).toBeGreaterThanOrEqual(before);
    expect(record?.[ATTR.expiresAt]).toBe(
      (record?.[ATTR.revokedBefore] as number) + LIMITS.maxTokenLifetimeSeconds + LIMITS.expiryMarginSeconds,
    );
    // No index sees it: presence of that uid is empty.
    expect((await postJson(stack, '/publish', { presence: { uid: 'revoke-record' } })).body).toEqual({
      uid: 'revoke-record',
      online: false,
      connections: [],
    });
  });

  it('refuses a handshake whose authorizer ran before a kick with revoke and whose $connect runs after it', async () => {
    const uid = 'revoke-race';
    // The handshake stops where the authorizer has let it through and nothing is stored yet.
    const held = await holdConnect(stack, 'revoke-race');
    const connected = nextInvocation(stack, 'connect');
    let heldId = '';
    try {
      const token = await tokenAt(uid, Date.now() - 5_000);
      const refusal = handshakeRefusal(`${stack.wsUrl}?token=${encodeURIComponent(token)}`);
      await within(held.reached, WAIT_MS, 'the handshake to reach $connect');
      // The kick finds no connection of the uid: the held one has no record yet.
      const kicked = await postJson(stack, '/publish', { kick: { uid, revoke: true } });
      expect(kicked).toEqual({ status: 200, body: { closed: 0, revoked: true } });
      held.release();
      expect(await refusal).toMatchObject({ status: 401 });
      const record = await connected;
      expect(record.result).toEqual({ statusCode: 401 });
      heldId = eventOf(record).requestContext.connectionId;
    } finally {
      held.release();
      held.restore();
    }
    // Nothing of it is left: no socket, no record, no delivery.
    expect(stack.emulator.connectionIds()).not.toContain(heldId);
    expect(await recordsOf(stack, heldId)).toEqual([]);
    expect((await postJson(stack, '/publish', { presence: { uid } })).body).toEqual({
      uid,
      online: false,
      connections: [],
    });
    expect((await postJson(stack, '/publish', { to: { uid }, data: 1 })).body).toMatchObject({
      connections: 0,
      delivered: 0,
    });
  });

  it('ends a connection that a kick with revoke met while its handshake was past the revocation read but not yet open', async () => {
    const uid = 'revoke-opening';
    const token = await tokenAt(uid, Date.now() - 5_000);
    // $connect has stored the record and read no revocation; its answer, and the socket's opening,
    // wait for the test, so the kick's kicked frame meets 410.
    const held = await holdConnectAnswer(stack, 'revoke-opening');
    let posted: () => void = () => {};
    const firstPost = new Promise<void>((resolve) => {
      posted = resolve;
    });
    let socket: TestSocket | undefined;
    let kicked: Promise<{ status: number; body: unknown }> | undefined;
    try {
      const opening = openWith(token);
      await within(held.answered, WAIT_MS, 'the handshake to pass $connect');
      // Observes the posts without changing any (a fault rate nothing draws under).
      stack.emulator.faults.management = {
        goneRate: Number.MIN_VALUE,
        random: () => {
          posted();
          return 1;
        },
      };
      kicked = postJson(stack, '/publish', { kick: { uid, reason: 'stolen', revoke: true } });
      await within(firstPost, WAIT_MS, "the kick's kicked frame");
      // Its 410 answered first, the handshake then opens.
      await new Promise<void>((resolve) => setImmediate(resolve));
      held.release();
      socket = await opening;
    } finally {
      stack.emulator.faults.management = undefined;
      held.release();
      held.restore();
    }
    // Open with a revoked token, so the kick must still end it: its second lookup does.
    expect(await within(kicked, WAIT_MS, 'the kick')).toEqual({
      status: 200,
      body: { closed: 1, revoked: true },
    });
    expect(await socket.nextJson()).toEqual({ type: 'kicked', reason: 'stolen' });
    expect((await socket.waitForClose()).code).toBe(1000);
    expect(await recordsOf(stack, socket.connectionId)).toEqual([]);
    expect((await postJson(stack, '/publish', { presence: { uid } })).body).toMatchObject({ online: false });
  });

  it('refuses a token that would outlive a revocation', async () => {
    const url = (token: string) => `${stack.wsUrl}?token=${encodeURIComponent(token)}`;
    const long = await tokenAt('long-lived', Date.now(), LIMITS.maxTokenLifetimeSeconds + 1);
    expect(await handshakeRefusal(url(long))).toMatchObject({ status: 401 });
    const future = await tokenAt('from-the-future', Date.now() + 10 * 60_000);
    expect(await handshakeRefusal(url(future))).toMatchObject({ status: 401 });
  });
});

describe('token expiry', () => {
  it('ends a connection whose token expired instead of delivering to it, on a uid push', async () => {
    const socket = await connect(stack, 'expiring-uid');
    await setAttribute(socket.connectionId, SK.connection, ATTR.tokenExp, nowSeconds() - 1);
    const { body } = await postJson(stack, '/publish', { to: { uid: 'expiring-uid' }, data: 1, id: 'late' });
    expect(body).toMatchObject({ connections: 1, delivered: 0, gone: 1 });
    expect(await socket.nextJson()).toEqual({ type: 'expired' });
    await socket.waitForClose();
    expect(socket.pending).toBe(0);
    expect(await recordsOf(stack, socket.connectionId)).toEqual([]);
  });

  it('sends expired again when API Gateway throttles its first post, as it would a message', async () => {
    const socket = await connect(stack, 'expiring-throttled');
    await setAttribute(socket.connectionId, SK.connection, ATTR.tokenExp, nowSeconds() - 1);
    // The first post is answered 429 (nothing sent), every later one goes through.
    let draws = 0;
    stack.emulator.faults.management = { throttleRate: 0.5, random: () => (draws++ === 0 ? 0 : 0.99) };
    let answer: Awaited<ReturnType<typeof postJson>>;
    try {
      answer = await postJson(stack, '/publish', { to: { uid: 'expiring-throttled' }, data: 1 });
    } finally {
      stack.emulator.faults.management = undefined;
    }
    expect(answer.body).toMatchObject({ connections: 1, delivered: 0, gone: 1 });
    expect(await socket.nextJson()).toEqual({ type: 'expired' });
    await socket.waitForClose();
    expect(socket.pending).toBe(0);
    expect(await recordsOf(stack, socket.connectionId)).toEqual([]);
  });

  it('ends a subscriber whose token expired instead of delivering a topic push to it', async () => {
    const socket = await connect(stack, 'expiring-sub', { topics: ['expiry.room'] });
    await socket.request({ action: 'subscribe', topic: 'expiry.room' });
    const live = await connect(stack, 'live-sub', { topics: ['expiry.room'] });
    await live.request({ action: 'subscribe', topic: 'expiry.room' });
    await setAttribute(socket.connectionId, `${SK.topicPrefix}expiry.room`, ATTR.tokenExp, nowSeconds() - 1);
    const { body } = await postJson(stack, '/publish', { to: { topic: 'expiry.room' }, data: 2, id: 'room' });
    expect(body).toMatchObject({ connections: 2, delivered: 1, gone: 1 });
    expect(await socket.nextJson()).toEqual({ type: 'expired' });
    await socket.waitForClose();
    expect(await live.nextJson()).toMatchObject({ type: 'message', id: 'room' });
  });

  it('stores the token exp on the connection and its subscriptions', async () => {
    const token = await tokenAt('exp-stored', Date.now(), 300);
    const socket = await openWith(token);
    const exp = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).exp;
    expect(await socket.request({ action: 'subscribe', topic: 'x' })).toMatchObject({ code: 'forbidden' });
    const [connection] = await recordsOf(stack, socket.connectionId);
    expect(connection?.[ATTR.tokenExp]).toBe(exp);
    await socket.close();
  });

  it('answers a frame after exp with expired and closes, instead of reading it', async () => {
    // The token expires once the handshake has had its time; the frame is sent once exp has passed.
    const exp = expiryAfterHandshakes();
    const issued = nowSeconds();
    const token = await signToken(
      { uid: 'frame-after-exp', ttlSeconds: exp - issued, nowMs: issued * 1000 },
      secretKey(stack.tokenSecret),
    );
    const socket = await openWith(token);
    await new Promise((resolve) => setTimeout(resolve, exp * 1000 - Date.now() + 10));
    const answered = nextInvocation(
      stack,
      'default',
      (r) => eventOf(r).requestContext.connectionId === socket.connectionId,
    );
    socket.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
    expect(await socket.nextJson()).toEqual({ type: 'expired' });
    await answered;
    await socket.waitForClose();
    expect(socket.pending).toBe(0);
    expect(await recordsOf(stack, socket.connectionId)).toEqual([]);
  });

  /** A token whose `exp` has a fraction, as a signer writing `Date.now() / 1000 + ttl` makes. */
  function fractionalToken(uid: string, exp: number): Promise<string> {
    return new SignJWT({ sub: uid, iat: nowSeconds(), exp })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(secretKey(stack.tokenSecret));
  }

  it('ends a connection whose token has a fractional exp once that second has passed, on a push and on a frame', async () => {
    // Half a second past a whole one: the connection ends at that whole second, half a second early.
    const exp = expiryAfterHandshakes() + 0.5;
    const socket = await openWith(await fractionalToken('fractional-exp', exp));
    const [connection] = await recordsOf(stack, socket.connectionId);
    expect(connection?.[ATTR.tokenExp]).toBe(Math.floor(exp));
    const framed = await openWith(await fractionalToken('fractional-exp-frame', exp));
    await new Promise((resolve) => setTimeout(resolve, Math.floor(exp) * 1000 - Date.now() + 10));

    const { body } = await postJson(stack, '/publish', { to: { uid: 'fractional-exp' }, data: 1 });
    expect(body).toMatchObject({ connections: 1, delivered: 0, gone: 1 });
    expect(await socket.nextJson()).toEqual({ type: 'expired' });
    await socket.waitForClose();

    framed.ws.send(JSON.stringify({ action: 'ping' }));
    expect(await framed.nextJson()).toEqual({ type: 'expired' });
    await framed.waitForClose();
  });
});

describe('kick with revoke while the uid index lags', () => {
  const own = stackPerTest();

  it('closes a connection stored just before the kick, which its first lookup could not see', async () => {
    // The index shows a new record 700 ms after it is stored: the kick's first lookup, made at once,
    // misses the socket, and its second, LIMITS.revokeRecheckMs later, finds it.
    const lagMs = 700;
    expect(LIMITS.revokeRecheckMs).toBeGreaterThan(lagMs);
    const running = await own.start({ indexLagMs: lagMs });
    const uid = 'lagging-thief';
    const socket = await connect(running, uid);
    const { status, body } = await postJson(running, '/publish', {
      kick: { uid, reason: 'stolen', revoke: true },
    });
    expect({ status, body }).toEqual({ status: 200, body: { closed: 1, revoked: true } });
    expect(await socket.nextJson()).toEqual({ type: 'kicked', reason: 'stolen' });
    await socket.waitForClose();
    expect(await recordsOf(running, socket.connectionId)).toEqual([]);
  });
});
