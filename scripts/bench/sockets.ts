/**
 * Real `ws` clients for the bench: many sockets opened with bounded concurrency, each with its own
 * signed token. Failures are counted, never hidden.
 */
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { forEachBounded } from '../../lambdas/core/pool';
import { secretKey, signToken } from '../../lambdas/core/token';

/** Opens `url` (with `?token=` when given). */
export async function openSocket(url: string, token?: string): Promise<WebSocket> {
  const ws = new WebSocket(token === undefined ? url : `${url}?token=${encodeURIComponent(token)}`, {
    perMessageDeflate: false,
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no answer within 30000 ms')), 30_000);
    const settle = (error?: Error) => {
      clearTimeout(timer);
      if (error === undefined) resolve();
      else {
        ws.terminate();
        reject(error);
      }
    };
    ws.once('open', () => settle());
    ws.once('error', settle);
    ws.once('unexpected-response', (_req, res: IncomingMessage) =>
      settle(new Error(`handshake answered ${res.statusCode}`)),
    );
  });
  ws.on('error', () => {});
  return ws;
}

/** A token for `uid` signed with the stack's secret, good for three hours. */
export function tokenFor(tokenSecret: string, uid: string, topics: string[] = []): Promise<string> {
  return signToken({ uid, topics, ttlSeconds: 3 * 3600 }, secretKey(tokenSecret));
}

/**
 * Opens `count` sockets, `concurrency` handshakes at a time, socket `i` for `uidOf(i)`.
 *
 * @example
 * const { sockets, failed } = await openSockets(stack, 10_000, { uidOf: (i) => `bench-${i}` });
 */
export async function openSockets(
  stack: { wsUrl: string; tokenSecret: string },
  count: number,
  options: { uidOf: (i: number) => string; concurrency: number; onProgress: (settled: number) => void },
): Promise<{ sockets: WebSocket[]; failed: number; firstError?: string }> {
  const sockets: WebSocket[] = [];
  let failed = 0;
  let settled = 0;
  let firstError: string | undefined;
  await forEachBounded(
    Array.from({ length: count }, (_, i) => i),
    options.concurrency,
    async (i) => {
      try {
        sockets.push(await openSocket(stack.wsUrl, await tokenFor(stack.tokenSecret, options.uidOf(i))));
      } catch (error) {
        failed++;
        firstError ??= error instanceof Error ? error.message : String(error);
      }
      options.onProgress(++settled);
    },
  );
  return { sockets, failed, ...(firstError === undefined ? {} : { firstError }) };
}

/** Resolves with the arrival time of the next frame whose `id` matches, on one client socket. */
export class FrameWaiter {
  readonly #waiting = new Map<string, (at: number) => void>();

  constructor(ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const at = performance.now();
      let id: string | undefined;
      try {
        id = (JSON.parse(data.toString('utf8')) as { id?: string }).id;
      } catch {
        return;
      }
      this.#waiting.get(id ?? '')?.(at);
      this.#waiting.delete(id ?? '');
    });
  }

  wait(id: string, timeoutMs = 10_000): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new Error(`frame ${id} not received within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiting.set(id, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }
}
