/**
 * The Management API (`/{stage}/@connections/{id}`) through the real
 * `@aws-sdk/client-apigatewaymanagementapi`, against the running local stack.
 */

import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import {
  type ApiGatewayManagementApiClient,
  ApiGatewayManagementApiClient as Client,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { QUOTAS } from '../../lambdas/shared/quotas';
import { within } from '../support/within';
import {
  connect,
  disconnectOf,
  eventOf,
  managementClient,
  nextInvocation,
  recordsOf,
  tokenFor,
  useTestStack,
  WAIT_MS,
} from './helpers';

const stack = useTestStack();
let client: ApiGatewayManagementApiClient;

beforeAll(() => {
  client = managementClient(stack);
});

afterAll(() => {
  client?.destroy();
});

/** One WebSocket frame header as it crossed the wire. */
interface FrameHeader {
  readonly fin: boolean;
  readonly opcode: number;
  readonly length: number;
}

/** The data frames in bytes a server sent (unmasked, lengths below 2^53), in order. */
function dataFrames(bytes: Buffer): FrameHeader[] {
  const frames: FrameHeader[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const first = bytes[at] as number;
    const len7 = (bytes[at + 1] as number) & 0x7f;
    let length = len7;
    let header = 2;
    if (len7 === 126) {
      length = bytes.readUInt16BE(at + 2);
      header = 4;
    } else if (len7 === 127) {
      length = Number(bytes.readBigUInt64BE(at + 2));
      header = 10;
    }
    const opcode = first & 0x0f;
    if (opcode < 0x08) frames.push({ fin: (first & 0x80) !== 0, opcode, length });
    at += header + length;
  }
  return frames;
}

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(
  promise: Promise<unknown>,
): Promise<Error & { $metadata?: { httpStatusCode?: number } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected the call to fail');
}

describe('PostToConnection', () => {
  it('answers 200 and delivers UTF-8 text as a text frame, byte for byte', async () => {
    const socket = await connect(stack, 'post-text');
    const text = 'héllo ✓ {"a":1}';

    const out = await client.send(
      new PostToConnectionCommand({ ConnectionId: socket.connectionId, Data: text }),
    );

    expect(out.$metadata.httpStatusCode).toBe(200);
    const frame = await socket.next();
    expect(frame.isBinary).toBe(false);
    expect(frame.data.equals(Buffer.from(text, 'utf8'))).toBe(true);
    await socket.close();
  });

  it('delivers bytes that are not valid UTF-8 unaltered, as a binary frame', async () => {
    const socket = await connect(stack, 'post-binary');
    const bytes = new Uint8Array([0xff, 0x00, 0xc3, 0x28, 0x80, 0x41]);

    await client.send(new PostToConnectionCommand({ ConnectionId: socket.connectionId, Data: bytes }));

    const frame = await socket.next();
    expect(frame.isBinary).toBe(true);
    expect([...frame.data]).toEqual([...bytes]);
    await socket.close();
  });

  it('delivers a post of exactly 128 KB', async () => {
    const socket = await connect(stack, 'post-128k');
    const data = 'a'.repeat(QUOTAS.maxMessageBytes);

    await client.send(new PostToConnectionCommand({ ConnectionId: socket.connectionId, Data: data }));

    expect((await socket.next()).data.length).toBe(QUOTAS.maxMessageBytes);
    await socket.close();
  });

  it('splits a post over 32 KB into frames of at most 32 KB, which the client reassembles', async () => {
    const tag = randomUUID();
    const connected = nextInvocation(stack, 'connect', (r) => eventOf(r).headers?.['x-test-socket'] === tag);
    const token = await tokenFor(stack, 'post-frames', []);
    const ws = new WebSocket(`${stack.wsUrl}?token=${encodeURIComponent(token)}`, {
      headers: { 'x-test-socket': tag },
    });
    const wire: Buffer[] = [];
    ws.once('upgrade', (res: IncomingMessage) => {
      res.socket.prependListener('data', (chunk: Buffer) => wire.push(chunk));
    });
    await within(once(ws, 'open'), WAIT_MS, 'the socket to open');
    const connectionId = eventOf(await connected).requestContext.connectionId;
    // 'é' is two bytes, and the first fragment ends between them.
    const text = `a${'é'.repeat(QUOTAS.maxMessageBytes / 2 - 1)}b`;
    const received = once(ws, 'message');

    await client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: text }));

    const [data, isBinary] = (await within(received, WAIT_MS, 'the post')) as [Buffer, boolean];
    expect(isBinary).toBe(false);
    expect(data.toString('utf8')).toBe(text);
    const frames = dataFrames(Buffer.concat(wire));
    expect(frames.map((f) => f.length)).toEqual([32_768, 32_768, 32_768, 32_768]);
    expect(frames.map((f) => f.opcode)).toEqual([1, 0, 0, 0]);
    expect(frames.map((f) => f.fin)).toEqual([false, false, false, true]);
    ws.close();
    await once(ws, 'close');
  });

  it('refuses a post over 128 KB with 413 PayloadTooLargeException and sends nothing', async () => {
    const socket = await connect(stack, 'post-too-big');

    const error = await rejection(
      client.send(
        new PostToConnectionCommand({
          ConnectionId: socket.connectionId,
          Data: 'a'.repeat(QUOTAS.maxMessageBytes + 1),
        }),
      ),
    );

    expect(error.name).toBe('PayloadTooLargeException');
    expect(error.$metadata?.httpStatusCode).toBe(413);
    expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'pong' });
    expect(socket.pending).toBe(0);
    await socket.close();
  });

  it('answers 410 GoneException to a post made from inside $connect, as AWS does', async () => {
    let seenInsideConnect: string | undefined;
    const restore = stack.emulator.setHandler('connect', async (event) => {
      const id = event.requestContext.connectionId as string;
      const error = await rejection(
        client.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'too early' })),
      );
      seenInsideConnect = error.name;
      return { statusCode: 200 };
    });
    try {
      const socket = await connect(stack, 'post-in-connect');
      expect(seenInsideConnect).toBe('GoneException');
      // This $connect stored no record, so the socket is open but unregistered: a ping says gone.
      expect(await socket.request({ action: 'ping' })).toMatchObject({ type: 'error', code: 'gone' });
      await socket.close();
    } finally {
      restore();
    }
  });
});

describe('GetConnection', () => {
  it('returns ConnectedAt, Identity{SourceIp,UserAgent} and LastActiveAt', async () => {
    const connected = nextInvocation(
      stack,
      'connect',
      (r) => eventOf(r).headers?.['User-Agent'] === 'get-test/1',
    );
    const socket = await connect(stack, 'get-info', { headers: { 'User-Agent': 'get-test/1' } });
    const connectedAt = eventOf(await connected).requestContext.connectedAt;

    const out = await client.send(new GetConnectionCommand({ ConnectionId: socket.connectionId }));

    expect(out.$metadata.httpStatusCode).toBe(200);
    expect(out.ConnectedAt).toEqual(new Date(connectedAt));
    expect(out.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'get-test/1' });
    expect(out.LastActiveAt).toBeInstanceOf(Date);
    expect(out.LastActiveAt?.getTime()).toBeGreaterThanOrEqual(connectedAt);
    await socket.close();
  });

  it('moves LastActiveAt forward when the client sends a message', async () => {
    const socket = await connect(stack, 'get-active');
    const before = await client.send(new GetConnectionCommand({ ConnectionId: socket.connectionId }));
    // Timestamps are whole milliseconds; make sure the next frame lands on a later one.
    const sentAt = (before.LastActiveAt as Date).getTime() + 2;
    while (Date.now() < sentAt) await new Promise((resolve) => setImmediate(resolve));

    await socket.request({ action: 'ping' });
    const after = await client.send(new GetConnectionCommand({ ConnectionId: socket.connectionId }));

    expect(after.LastActiveAt?.getTime()).toBeGreaterThan((before.LastActiveAt as Date).getTime());
    expect(after.ConnectedAt).toEqual(before.ConnectedAt);
    await socket.close();
  });
});

describe('DeleteConnection', () => {
  it('answers 204, closes the socket with 1000 and runs $disconnect, which deletes the record', async () => {
    const socket = await connect(stack, 'delete-me');
    const disconnected = disconnectOf(stack, socket.connectionId);

    const out = await client.send(new DeleteConnectionCommand({ ConnectionId: socket.connectionId }));

    expect(out.$metadata.httpStatusCode).toBe(204);
    expect((await socket.waitForClose()).code).toBe(1000);
    expect(eventOf(await disconnected).requestContext).toMatchObject({
      disconnectStatusCode: 1000,
      disconnectReason: 'Connection Closed Normally',
    });
    expect(await recordsOf(stack, socket.connectionId)).toEqual([]);
  });
});

describe('errors the SDK can name', () => {
  it('answers 410 GoneException for a closed connection, whose record $disconnect deleted', async () => {
    const socket = await connect(stack, 'gone-after-close');
    const id = socket.connectionId;
    await socket.close();

    for (const command of [
      new PostToConnectionCommand({ ConnectionId: id, Data: 'late' }),
      new GetConnectionCommand({ ConnectionId: id }),
      new DeleteConnectionCommand({ ConnectionId: id }),
    ]) {
      // biome-ignore lint/suspicious/noExplicitAny: three command types through one send.
      const error = await rejection(client.send(command as any));
      expect(error.name).toBe('GoneException');
      expect(error.$metadata?.httpStatusCode).toBe(410);
    }
    expect(await recordsOf(stack, id)).toEqual([]);
  });

  it('answers 410 GoneException for an id that never existed', async () => {
    const error = await rejection(
      client.send(new PostToConnectionCommand({ ConnectionId: 'AAAAAAAAAAAAAAA=', Data: 'x' })),
    );

    expect(error.name).toBe('GoneException');
  });

  it('answers 429 LimitExceededException above the configured @connections rate', async () => {
    const socket = await connect(stack, 'throttled');
    // One attempt per call: the SDK would otherwise retry the throttle away.
    const noRetry = new Client({ endpoint: stack.managementEndpoint, maxAttempts: 1 });
    stack.emulator.faults.managementRateLimit = 2;
    try {
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, () =>
          noRetry.send(new PostToConnectionCommand({ ConnectionId: socket.connectionId, Data: 'burst' })),
        ),
      );

      const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
      expect(failures).toHaveLength(3);
      for (const failure of failures) {
        expect(failure.reason.name).toBe('LimitExceededException');
        expect(failure.reason.$metadata.httpStatusCode).toBe(429);
      }
    } finally {
      stack.emulator.faults.managementRateLimit = undefined;
      noRetry.destroy();
    }
    await socket.next();
    await socket.next();
    await socket.close();
  });

  it('answers 403 ForbiddenException for a path that is not a connection', async () => {
    const res = await fetch(`${stack.managementEndpoint}/@connections`, { method: 'POST', body: 'x' });

    expect(res.status).toBe(403);
    expect(res.headers.get('x-amzn-errortype')).toBe('ForbiddenException');
    await res.arrayBuffer();
  });
});

describe('the endpoint in the event', () => {
  it('builds a working management endpoint from the event domainName and stage', async () => {
    const socket = await connect(stack, 'endpoint-from-event');
    const invoked = nextInvocation(
      stack,
      'default',
      (r) => eventOf(r).requestContext.connectionId === socket.connectionId,
    );
    await socket.request({ action: 'ping' });
    const { domainName, stage, connectionId } = eventOf(await invoked).requestContext;

    const fromEvent = new Client({ endpoint: `http://${domainName}/${stage}` });
    await fromEvent.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: 'via the event' }));
    fromEvent.destroy();

    expect(`http://${domainName}/${stage}`).toBe(stack.managementEndpoint);
    expect((await socket.next()).text).toBe('via the event');
    await socket.close();
  });
});
