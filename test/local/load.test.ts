/**
 * Load against the running local stack: 300 concurrent handshakes and a burst of 500 messages,
 * all handled without a 5xx, by handlers running in-process with bounded concurrency. The burst
 * arrives at once, so the deployment under test gives `$default` room for it (reserved
 * concurrency and a route burst of 500), as a deployment expecting such bursts would.
 */
import type { IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import type { LocalStack } from '../../local/stack';
import { startTestStack, TestSocket, tokenFor } from './helpers';

const CONNECTIONS = 300;
const MESSAGES = 500;
const CONCURRENCY = MESSAGES;

let stack: LocalStack;
const sockets: TestSocket[] = [];

beforeAll(async () => {
  stack = await startTestStack({
    cdk: {
      props: {
        defaultConcurrency: CONCURRENCY,
        defaultRouteThrottle: { rateLimit: MESSAGES, burstLimit: MESSAGES },
      },
    },
  });
});

afterAll(async () => {
  for (const socket of sockets) socket.ws.terminate();
  await stack?.stop();
});

/** Opens one socket; resolves to it, or to the HTTP status of a refused handshake. */
function open(url: string): Promise<TestSocket | number> {
  const ws = new WebSocket(url);
  const socket = new TestSocket(ws);
  return new Promise((resolve) => {
    ws.once('open', () => resolve(socket));
    ws.once('unexpected-response', (_req, res: IncomingMessage) => resolve(res.statusCode ?? 0));
    ws.once('error', () => resolve(0));
  });
}

describe('load', () => {
  it(`opens ${CONNECTIONS} concurrent connections, answers a burst of ${MESSAGES} messages, and runs every $disconnect`, async () => {
    const tokens = await Promise.all(
      Array.from({ length: CONNECTIONS }, (_, i) => tokenFor(stack, `load-${i % 50}`)),
    );
    const before = stack.emulator.stats.invocations;

    const opened = await Promise.all(tokens.map((token) => open(`${stack.wsUrl}?token=${token}`)));

    const refused = opened.filter((o): o is number => typeof o === 'number');
    expect(refused).toEqual([]);
    sockets.push(...(opened as TestSocket[]));
    expect(stack.emulator.stats.openConnections).toBe(CONNECTIONS);

    // The burst: every message is sent before any reply is read.
    const senders = Array.from({ length: MESSAGES }, (_, i) => sockets[i % CONNECTIONS] as TestSocket);
    for (const socket of senders) socket.ws.send('{"action":"ping"}');
    const replies = await Promise.all(senders.map((socket) => socket.nextJson(20_000)));

    expect(replies.filter((reply) => reply.type !== 'pong')).toEqual([]);
    const stats = stack.emulator.stats;
    // authorizer + $connect per connection, one $default per message: no cold worker per call,
    // and never more than its reserved concurrency in flight.
    expect(stats.invocations - before).toBe(2 * CONNECTIONS + MESSAGES);
    const defaults = stack.emulator.functionStats('default');
    expect(defaults.peakConcurrency).toBeLessThanOrEqual(CONCURRENCY);
    expect(defaults.peakConcurrency).toBeGreaterThan(1);
    expect(defaults.throttles).toBe(0);

    let disconnects = 0;
    const failedDisconnects: unknown[] = [];
    const allDisconnected = new Promise<void>((resolve) => {
      const off = stack.emulator.onInvoke((record) => {
        if (record.functionName !== 'disconnect') return;
        if (record.error !== undefined) failedDisconnects.push(record.error);
        if (++disconnects === CONNECTIONS) {
          off();
          resolve();
        }
      });
    });
    for (const socket of sockets) socket.ws.close(1000);
    await allDisconnected;
    expect(failedDisconnects).toEqual([]);
    expect(stack.emulator.stats.openConnections).toBe(0);
  }, 60_000);
});
