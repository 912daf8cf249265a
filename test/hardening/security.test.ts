/**
 * Security, against the real authorizer and handlers on a stack that requires an
 * audience: every bad token is refused at the handshake with 401 and nothing is stored; a client
 * can reach only its own uid and the topics its token grants; no client frame reaches another
 * client; the stack and its DynamoDB listen on loopback only. The threat model is docs/security.md.
 */
import { generateKeyPair, SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { secretKey } from '../../lambdas/core/token';
import { LIMITS } from '../../lambdas/shared/limits';
import { QUOTAS } from '../../lambdas/shared/quotas';
import { CONNECTIONS_TABLE } from '../../lambdas/shared/tables';
import {
  type HardeningStack,
  openClient,
  openSocket,
  publish,
  recordFigures,
  snapshot,
  startHardeningStack,
  tokenFor,
} from './helpers';

const AUDIENCE = 'push-test';

let h: HardeningStack;
let key: Uint8Array;
const now = () => Math.floor(Date.now() / 1000);

beforeAll(async () => {
  h = await startHardeningStack({ tokenAudience: AUDIENCE });
  key = secretKey(h.stack.tokenSecret);
});

afterAll(async () => {
  await h?.stop();
});

/** A well-formed HS256 token with the stack's key, changed by `edit` before signing. */
function signed(
  claims: Record<string, unknown>,
  options: { key?: Uint8Array; alg?: string; sub?: string | null; aud?: string | null; exp?: number } = {},
): Promise<string> {
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: options.alg ?? 'HS256', typ: 'JWT' })
    .setIssuedAt();
  if (options.sub !== null) jwt.setSubject(options.sub ?? 'attacker');
  if (options.aud !== null) jwt.setAudience(options.aud ?? AUDIENCE);
  jwt.setExpirationTime(options.exp ?? now() + 600);
  return jwt.sign(options.key ?? key);
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

describe('tokens refused at the handshake, with nothing stored', () => {
  const attacks: [string, () => Promise<string | undefined>][] = [
    ['no token at all', async () => undefined],
    ['a token that is not a JWT', async () => 'not-a-jwt'],
    [
      'a forged signature (signed with another secret)',
      () => signed({}, { key: secretKey('guessed-secret') }),
    ],
    [
      'a valid token whose signature was swapped for another token’s',
      async () => {
        const [head, body] = (await signed({ topics: ['*'] })).split('.');
        const other = (await signed({}, { sub: 'someone-else' })).split('.')[2];
        return `${head}.${body}.${other}`;
      },
    ],
    [
      'alg: none',
      async () =>
        new UnsecuredJWT({ aud: AUDIENCE }).setSubject('attacker').setExpirationTime('10m').encode(),
    ],
    [
      'alg: none with the signature of a valid token kept',
      async () => {
        const [, body, signature] = (await signed({})).split('.');
        return `${base64url({ alg: 'none', typ: 'JWT' })}.${body}.${signature}`;
      },
    ],
    [
      'HS/RS confusion: RS256 signed with the attacker’s own RSA key',
      async () => {
        const { privateKey } = await generateKeyPair('RS256');
        return new SignJWT({})
          .setProtectedHeader({ alg: 'RS256' })
          .setSubject('attacker')
          .setAudience(AUDIENCE)
          .setExpirationTime('10m')
          .sign(privateKey);
      },
    ],
    [
      'HS/RS confusion: header says RS256, signed with HMAC of the real secret',
      async () => {
        const [, body, signature] = (await signed({})).split('.');
        return `${base64url({ alg: 'RS256', typ: 'JWT' })}.${body}.${signature}`;
      },
    ],
    ['another HMAC algorithm (HS512) with the real secret', () => signed({}, { alg: 'HS512' })],
    ['expired', () => signed({}, { exp: now() - 60 })],
    // Cut to its second, this exp has passed: the routes would otherwise see no exp at all.
    [
      'expired once its exp is cut to the second (a fraction ahead of now)',
      () => signed({}, { exp: now() + 0.999 }),
    ],
    [
      'not yet valid (nbf an hour ahead)',
      () =>
        new SignJWT({ nbf: now() + 3600 })
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('attacker')
          .setAudience(AUDIENCE)
          .setExpirationTime('2h')
          .sign(key),
    ],
    ['missing sub', () => signed({}, { sub: null })],
    ['an empty sub', () => signed({}, { sub: '' })],
    ['a sub over 128 characters', () => signed({}, { sub: 'u'.repeat(LIMITS.maxUidLength + 1) })],
    [
      'missing exp',
      () =>
        new SignJWT({})
          .setProtectedHeader({ alg: 'HS256' })
          .setSubject('attacker')
          .setAudience(AUDIENCE)
          .sign(key),
    ],
    [
      'over 8 KB, however validly signed',
      () => signed({ topics: Array.from({ length: 90 }, (_, i) => `t${i}-${'x'.repeat(100)}`) }),
    ],
    ['for another environment (aud push-prod)', () => signed({}, { aud: 'push-prod' })],
    ['with no audience where one is required', () => signed({}, { aud: null })],
    ['topics that are not an array of names', () => signed({ topics: 'orders' })],
    [
      `more than ${LIMITS.maxGrants} topic grants`,
      () => signed({ topics: Array.from({ length: LIMITS.maxGrants + 1 }, (_, i) => `t${i}`) }),
    ],
  ];

  it.each(attacks)('refuses %s with 401, runs no $connect and stores nothing', async (_name, make) => {
    const token = await make();
    if (token !== undefined && token.length > 4000)
      expect(token.length).toBeGreaterThan(QUOTAS.maxTokenBytes);
    const table = h.stack.tableNames[CONNECTIONS_TABLE.id] as string;
    const before = await snapshot(h.directEndpoint, table);
    const invoked: string[] = [];
    const off = h.stack.emulator.onInvoke((r) => {
      invoked.push(r.functionName);
    });

    const opened = await openSocket(h.stack, 'attacker', token);
    off();

    // A token over 8 KB cannot fit API Gateway's 4,096-character URL: the front door answers 414
    // before the authorizer could refuse it.
    const url = (token?.length ?? 0) + h.stack.wsUrl.length;
    expect(opened).toEqual({ status: url > QUOTAS.maxUrlChars ? 414 : 401 });
    expect(invoked).not.toContain('connect');
    expect(await snapshot(h.directEndpoint, table)).toEqual(before);
  });

  it('accepts the same claims when they are signed properly (the control)', async () => {
    const opened = await openSocket(h.stack, 'attacker', await signed({ topics: ['orders'] }));
    expect('client' in opened).toBe(true);
    if ('client' in opened) await opened.client.close();
    recordFigures('security-handshake', { attacksRefused: attacks.length, control: 'accepted' });
  });
});

describe('what a connected client can reach', () => {
  it('never publishes to another uid: there is no client publish action, and extra fields change nothing', async () => {
    const victim = await openClient(h.stack, 'victim', [], AUDIENCE);
    const attacker = await openClient(h.stack, 'attacker', ['orders'], AUDIENCE);
    const frames = [
      { action: 'publish', to: { uid: 'victim' }, data: 'owned' },
      { action: 'sendmessage', connectionId: victim.connectionId, data: 'owned' },
      { action: '$default', to: { uid: 'victim' }, data: 'owned' },
      { action: 'ping', to: { uid: 'victim' }, data: 'owned', uid: 'victim' },
      { action: 'subscribe', topic: 'orders', uid: 'victim', connectionId: victim.connectionId },
    ];
    const replies = [];
    for (const frame of frames) replies.push(await attacker.request(frame));

    expect(replies.map((r) => (r.type === 'error' ? r.code : r.type))).toEqual([
      'bad_request',
      'bad_request',
      'bad_request',
      'pong',
      'subscribed',
    ]);
    // Nothing reached the victim: the first message it gets is a marker the backend sends now.
    await publish(h.stack, { to: { uid: 'victim' }, data: 'marker', id: 'marker-1' });
    await victim.waitForMessages(1);
    expect(victim.messages).toEqual(['marker-1']);
    await Promise.all([victim.close(), attacker.close()]);
  });

  it('subscribes only to granted topics, exact names or prefix* grants', async () => {
    const client = await openClient(h.stack, 'grants', ['orders.*', 'alerts'], AUDIENCE);
    const answers: Record<string, unknown> = {};
    for (const topic of [
      'orders.eu',
      'alerts',
      'orders',
      'ordersX',
      'alerts.eu',
      'billing',
      'orders.*',
      '*',
    ]) {
      const reply = await client.request({ action: 'subscribe', topic });
      answers[topic] = reply.type === 'error' ? reply.code : reply.type;
    }

    expect(answers).toEqual({
      'orders.eu': 'subscribed',
      alerts: 'subscribed',
      orders: 'forbidden',
      ordersX: 'forbidden',
      'alerts.eu': 'forbidden',
      billing: 'forbidden',
      'orders.*': 'bad_request',
      '*': 'bad_request',
    });
    await client.close();
  });

  it('resumes only its own uid’s log, whatever the frame names', async () => {
    await publish(h.stack, { to: { uid: 'victim-log' }, data: 'secret', id: 'victim-secret' });
    const attacker = await openClient(h.stack, 'attacker-log', [], AUDIENCE);

    const resumed = await attacker.request({
      action: 'resume',
      since: 0,
      uid: 'victim-log',
      stream: 'uid#victim-log',
    });
    const topic = await attacker.request({ action: 'resume', since: 0, topic: 'victim-log' });

    expect(resumed).toEqual({ type: 'resumed', seq: 0 });
    expect(topic).toMatchObject({ type: 'error', code: 'forbidden', topic: 'victim-log' });
    expect(attacker.messages).toEqual([]);
    await attacker.close();
  });

  it('gives the uid from the token alone: query parameters and headers cannot name another', async () => {
    const token = await tokenFor(h.stack, 'real-uid', [], { audience: AUDIENCE });
    const { WebSocket } = await import('ws');
    const ws = new WebSocket(`${h.stack.wsUrl}?token=${encodeURIComponent(token)}&uid=victim&sub=victim`, {
      headers: { 'x-uid': 'victim', 'x-amzn-principal': 'victim' },
    });
    const connected = new Promise<string>((resolve) => {
      const off = h.stack.emulator.onInvoke((r) => {
        if (r.functionName !== 'connect') return;
        off();
        resolve(
          String(
            (r.event as { requestContext: { authorizer: { uid: string } } }).requestContext.authorizer.uid,
          ),
        );
      });
    });
    await new Promise((resolve) => ws.once('open', resolve));

    expect(await connected).toBe('real-uid');
    ws.close();
  });
});

describe('where the local stack listens', () => {
  /** True when a TCP connection to host:port is accepted. */
  async function accepts(host: string, port: number): Promise<boolean> {
    const { connect } = await import('node:net');
    return new Promise((resolve) => {
      const socket = connect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
  }

  it('binds the publish endpoint and everything else to 127.0.0.1 by default, so another address is refused', async () => {
    const { port, httpUrl } = h.stack;
    expect(new URL(httpUrl).hostname).toBe('127.0.0.1');
    expect(await accepts('127.0.0.1', port)).toBe(true);
    // 127.0.0.2 is loopback too, but a socket bound to 127.0.0.1 does not answer it.
    expect(await accepts('127.0.0.2', port)).toBe(false);
    const dynamo = new URL(h.directEndpoint);
    if (dynamo.hostname === '127.0.0.1') expect(await accepts('127.0.0.2', Number(dynamo.port))).toBe(false);
  });

  it('answers on every address when told to bind 0.0.0.0 (the control for the check above)', async () => {
    const wide = await startHardeningStack({ host: '0.0.0.0' });
    try {
      expect(await accepts('127.0.0.2', wide.stack.port)).toBe(true);
    } finally {
      await wide.stop();
    }
  });
});
