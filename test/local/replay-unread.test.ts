import { describe, expect, it, vi } from 'vitest';
import { connect, eventOf, nextInvocation, seedLog, useTestStack } from './helpers';

// Warnings on, so the test reads $default's own lines, as CloudWatch would get them.
const stack = useTestStack({ environment: { POWERTOOLS_LOG_LEVEL: 'WARN' } });

describe('a client that does not read its socket', () => {
  it('gets one replay warning, counting its stops, however often it resumes', {
    timeout: 60_000,
  }, async () => {
    // 8 MB: more than the socket's kernel buffers and the emulator's 1 MiB of unsent bytes hold.
    await seedLog(stack, 'unread', 1000, 8000);
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
