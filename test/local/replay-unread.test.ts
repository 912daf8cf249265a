/**
 * A client that does not read its socket stops every replay it asks for: its posts are refused
 * (429) once it holds 1 MiB unsent, and `$default` answers `unavailable`. It may ask again and
 * again, within its resume budget, so `$default` logs those stops once per uid and resume window,
 * with a count, and not one warning per resume.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it, vi } from 'vitest';
import { LOG_ATTR, MESSAGES_TABLE, STREAM } from '../../lambdas/shared/tables';
import { connect, documentClient, eventOf, nextInvocation, useTestStack } from './helpers';

// Warnings on, so the test reads $default's own lines, as CloudWatch would get them.
const stack = useTestStack({ environment: { POWERTOOLS_LOG_LEVEL: 'WARN' } });

/** Writes `count` messages of `bytes` JSON bytes, and their counter, straight into a uid's log. */
async function seedLog(uid: string, count: number, bytes: number): Promise<void> {
  const doc = documentClient(stack);
  const TableName = stack.tableNames[MESSAGES_TABLE.id] as string;
  const stream = STREAM.uid(uid);
  const expiresAt = Math.ceil(Date.now() / 1000) + 3600;
  const epoch = randomBytes(9).toString('base64url');
  const items: Record<string, unknown>[] = [
    { [LOG_ATTR.stream]: stream, [LOG_ATTR.seq]: 0, [LOG_ATTR.latest]: count, [LOG_ATTR.epoch]: epoch },
  ];
  for (let seq = 1; seq <= count; seq++) {
    items.push({
      [LOG_ATTR.stream]: stream,
      [LOG_ATTR.seq]: seq,
      [LOG_ATTR.id]: randomUUID(),
      [LOG_ATTR.epoch]: epoch,
      [LOG_ATTR.data]: JSON.stringify('d'.repeat(bytes - 2)),
      [LOG_ATTR.ts]: Date.now(),
      [LOG_ATTR.expiresAt]: expiresAt,
    });
  }
  try {
    for (let i = 0; i < items.length; i += 25) {
      const out = await doc.send(
        new BatchWriteCommand({
          RequestItems: { [TableName]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) },
        }),
      );
      expect(out.UnprocessedItems?.[TableName] ?? []).toEqual([]);
    }
  } finally {
    doc.destroy();
  }
}

describe('a client that does not read its socket', () => {
  it('gets one replay warning, counting its stops, however often it resumes', {
    timeout: 60_000,
  }, async () => {
    // 8 MB: more than the socket's kernel buffers and the emulator's 1 MiB of unsent bytes hold.
    await seedLog('unread', 1000, 8000);
    const socket = await connect(stack, 'unread');
    const tcp = (socket.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    tcp.pause();

    const lines: string[] = [];
    const spies = [process.stdout, process.stderr].map((stream) =>
      vi.spyOn(stream, 'write').mockImplementation((chunk) => {
        lines.push(String(chunk));
        return true;
      }),
    );
    const replies: unknown[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        const answered = nextInvocation(
          stack,
          'default',
          (r) => eventOf(r).requestContext.connectionId === socket.connectionId,
          30_000,
        );
        socket.ws.send(JSON.stringify({ action: 'resume', since: 0 }));
        replies.push(((await answered).result as { body?: string }).body);
      }
    } finally {
      for (const spy of spies) spy.mockRestore();
      // Reading again, it takes what it was sent and can close.
      tcp.resume();
    }
    await socket.close();

    // Each resume was answered unavailable (the answer the client never reads).
    expect(replies.map((body) => JSON.parse(String(body)).code)).toEqual([
      'unavailable',
      'unavailable',
      'unavailable',
    ]);
    const warnings = lines
      .flatMap((chunk) => chunk.split('\n'))
      .filter((line) => line.includes('replay stopped'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(warnings.map(({ level, message, uid, stops }) => ({ level, message, uid, stops }))).toEqual([
      { level: 'WARN', message: 'replay stopped: a post failed', uid: 'unread', stops: 1 },
    ]);
    expect(stack.emulator.stats.refusedFrames).toBeGreaterThan(0);
  });
});
