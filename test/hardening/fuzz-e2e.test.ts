/**
 * End-to-end fuzzing: generated frames through real sockets to `$default` and generated
 * bodies to `POST /publish` on the local stack. The pure parsers are the oracle: each answer must
 * be exactly what the parser says (the same error code and message, or the reply a valid frame
 * gets), nothing may crash (no `internal` code, no failed invocation), no prototype is polluted in
 * the process the handlers run in, and the connections table is unchanged.
 *
 * test/unit/fuzz.test.ts runs 100k inputs per parser in-process; this runs fewer (they cost a
 * round trip each) through everything in front of the parsers: ws, the emulator's routing, the
 * handler, the HTTP endpoint. `HARDENING_FUZZ` scales it (the soak runs more).
 */

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { LIMITS } from '../../lambdas/shared/limits';
import { ATTR, CONNECTIONS_TABLE } from '../../lambdas/shared/tables';
import type { InvocationRecord } from '../../local/functions';
import { untilServed } from '../support/throttled';
import { expectedPublishAnswer, expectedReply, frameText, publishBody, samples } from './arbitraries';
import {
  type Client,
  type HardeningStack,
  openClient,
  parallel,
  publish,
  recordFigures,
  snapshot,
  startHardeningStack,
} from './helpers';

const FRAMES = Number(process.env.HARDENING_FUZZ ?? 4_000);
const BODIES = Math.round(FRAMES * 0.75);
const SOCKETS = 8;

let h: HardeningStack;
let clients: Client[];
let table: string;
const failedInvocations: InvocationRecord[] = [];
let offInvoke = () => {};

beforeAll(async () => {
  // Each socket sends its 500 frames as fast as they are answered, far past a connection's frame
  // allowance (250 at once, 10 a second): set out of reach, so every frame is answered as the
  // parser says. The allowance itself is frame-limit.test.ts's.
  h = await startHardeningStack({ cdk: { props: { frameBurst: 1_000_000_000 } } });
  table = h.stack.tableNames[CONNECTIONS_TABLE.id] as string;
  // uids and grants no generated body can name: a kick or a publish never reaches these sockets by uid.
  clients = await Promise.all(
    Array.from({ length: SOCKETS }, (_, i) =>
      openClient(h.stack, `fuzz-socket-${i}-3f9c1e`, ['granted-3f9c1e']),
    ),
  );
  offInvoke = h.stack.emulator.onInvoke((record) => {
    if (record.error !== undefined) failedInvocations.push(record);
  });
});

afterAll(async () => {
  offInvoke();
  await Promise.all(clients.map((c) => c.close()));
  await h?.stop();
});

/** Records with the fields a ping may legitimately move (lastSeenAt, expiresAt) left out, sorted. */
/** What a resume past the connection's budget is answered. */
const OVER_BUDGET = {
  type: 'error',
  code: 'rate_limited',
  message: `more than ${LIMITS.resumesPerWindow} resumes in ${LIMITS.resumeWindowSeconds} s on this connection; resume later`,
};

/**
 * The records without what pings refresh and what resumes count: the connection's budget on its
 * record, and the uid's in an item of its own (`pk = "resumes#<uid>"`), left out whole.
 */
function withoutTouch(lines: string[]): string[] {
  return lines
    .filter((line) => !String((JSON.parse(line) as Record<string, unknown>).pk).startsWith('resumes#'))
    .map((line) => {
      const item = JSON.parse(line) as Record<string, unknown>;
      delete item.lastSeenAt;
      delete item.expiresAt;
      delete item[ATTR.replayUntil];
      delete item[ATTR.resumeWindow];
      delete item[ATTR.resumeCount];
      return JSON.stringify(item);
    })
    .sort();
}

describe('end-to-end fuzzing', () => {
  it(`answers ${FRAMES} generated frames through real sockets exactly as the frame parser says, and stores nothing`, async () => {
    const frames = samples(frameText, FRAMES, 7);
    const before = await snapshot(h.directEndpoint, table);
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const codes = new Map<string, number>();
    const mismatches: unknown[] = [];
    const resumes = new Map<unknown, number>();
    let throttled = 0;

    await parallel(clients, SOCKETS, async (client, lane) => {
      for (let i = lane; i < frames.length; i += SOCKETS) {
        const text = frames[i] as string;
        // Eight lanes of round trips can outrun `$default`'s route throttle on a fast machine. A
        // throttled frame ran nothing (the table check below holds either way), so it is sent
        // again, as a client is told to; the gateway reads it once its hold-back ends.
        const reply = await untilServed(
          () => client.request(text),
          (refused) => {
            expect(Object.keys(refused).sort()).toEqual(['connectionId', 'message', 'requestId']);
            throttled++;
          },
        );
        let expected = expectedReply(text);
        if (expected.type === 'resumed') {
          // A connection starts a bounded number of resumes per window; past them (and only
          // then) the server refuses. A slow run may see the window roll over and accept again.
          const count = (resumes.get(client) ?? 0) + 1;
          resumes.set(client, count);
          if (reply.type === 'error' && count > LIMITS.resumesPerWindow) expected = OVER_BUDGET;
        }
        const { ts: _ts, ...comparable } = reply;
        if (JSON.stringify(comparable) !== JSON.stringify(expected))
          mismatches.push({ text: text.slice(0, 200), reply, expected });
        const label = reply.type === 'error' ? String(reply.code) : String(reply.type);
        codes.set(label, (codes.get(label) ?? 0) + 1);
      }
    });

    expect(mismatches).toEqual([]);
    expect(failedInvocations).toEqual([]);
    expect(codes.has('internal')).toBe(false);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const after = await snapshot(h.directEndpoint, table);
    expect(withoutTouch(after)).toEqual(withoutTouch(before));
    for (const client of clients) expect(client.ws.readyState).toBe(WebSocket.OPEN);
    recordFigures('fuzz-frames', {
      frames: FRAMES,
      sockets: SOCKETS,
      answers: Object.fromEntries(codes),
      throttledAndSentAgain: throttled,
      mismatches: 0,
    });
  }, 120_000);

  it('closes a socket that sends invalid UTF-8 with 1007, without running $default or storing anything', async () => {
    const client = await openClient(h.stack, 'fuzz-utf8-3f9c1e');
    const before = await snapshot(h.directEndpoint, table);
    let defaults = 0;
    let disconnected = () => {};
    const disconnect = new Promise<void>((resolve) => {
      disconnected = resolve;
    });
    const off = h.stack.emulator.onInvoke((r) => {
      if (r.functionName === 'default') defaults++;
      const id = (r.event as { requestContext?: { connectionId?: string } }).requestContext?.connectionId;
      if (r.functionName === 'disconnect' && id === client.connectionId) disconnected();
    });

    // A text frame whose payload is not UTF-8 (a lone continuation byte inside JSON); ws sends
    // bytes as given when told they are text.
    client.ws.send(Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]), { binary: false });
    const code = await client.closed;
    await disconnect;
    off();

    expect(code).toBe(1007);
    expect(defaults).toBe(0);
    const after = await snapshot(h.directEndpoint, table);
    // Its own record went with its $disconnect; nothing else changed.
    expect(after).toEqual(before.filter((line) => !line.includes('fuzz-utf8-3f9c1e')));
  });

  it(`answers ${BODIES} generated POST /publish bodies with the parser's error code, or a result, and leaves the connections table unchanged`, async () => {
    const bodies = samples(publishBody, BODIES, 11);
    const before = await snapshot(h.directEndpoint, table);
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const statuses = new Map<string, number>();
    const mismatches: unknown[] = [];

    await parallel(bodies, 8, async (bytes) => {
      const text = bytes.toString('utf8');
      const answer = await publish(h.stack, bytes);
      const expected = expectedPublishAnswer(bytes);
      if (expected !== undefined) {
        if (
          answer.status !== expected.status ||
          JSON.stringify(answer.body) !== JSON.stringify(expected.body)
        ) {
          mismatches.push({ text: text.slice(0, 200), answer, expected });
        }
      } else if (
        !(answer.status === 200 || (answer.status >= 400 && answer.body.error?.code !== 'internal'))
      ) {
        // A valid command: a result, or a specific refusal (a status query for an unknown id).
        mismatches.push({ text: text.slice(0, 200), answer });
      }
      const label = `${answer.status} ${answer.body.error?.code ?? 'ok'}`;
      statuses.set(label, (statuses.get(label) ?? 0) + 1);
    });

    expect(mismatches).toEqual([]);
    expect(failedInvocations.filter((r) => r.functionName === 'publish')).toEqual([]);
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(await snapshot(h.directEndpoint, table)).toEqual(before);
    for (const client of clients) expect(client.ws.readyState).toBe(WebSocket.OPEN);
    recordFigures('fuzz-bodies', { bodies: BODIES, answers: Object.fromEntries(statuses), mismatches: 0 });
  }, 120_000);
});
