/**
 * Real `ws` clients for the bench: many sockets opened with bounded concurrency, each with its
 * own signed token, optionally subscribed to a topic. Failures are counted, never hidden.
 */
import type { IncomingMessage } from 'node:http';
import { WebSocket } from 'ws';
import { forEachBounded } from '../../lambdas/core/pool';
import { secretKey, signToken } from '../../lambdas/core/token';

/** Options for {@link openSockets}. */
export interface OpenSocketsOptions {
  /** `ws://host:port/stage` of the stack. */
  readonly wsUrl: string;
  readonly tokenSecret: string;
  readonly count: number;
  /** Handshakes in flight at once. @default 64 */
  readonly concurrency?: number;
  /** The uid of socket `i`. @default `bench-<i>` */
  readonly uidOf?: (i: number) => string;
  /** Subscribe every socket to this topic (its token grants it) and wait for the reply. */
  readonly topic?: string;
  /** Called with the number of sockets settled so far. */
  readonly onProgress?: (settled: number) => void;
  /** How long one handshake (and subscribe) may take. @default 30 s */
  readonly timeoutMs?: number;
}

/** What {@link openSockets} opened, and what it could not. */
export interface OpenedSockets {
  readonly sockets: WebSocket[];
  readonly failed: number;
  /** The first failure's message, to say why. */
  readonly firstError?: string;
  readonly elapsedMs: number;
}

function once<T>(ws: WebSocket, timeoutMs: number, wait: (done: (value: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    ws.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    ws.once('unexpected-response', (_req, res: IncomingMessage) => {
      clearTimeout(timer);
      reject(new Error(`handshake answered ${res.statusCode}`));
    });
    wait((value) => {
      clearTimeout(timer);
      resolve(value);
    });
  });
}

/** Opens one authorized socket, subscribed to `topic` when given. */
export async function openSocket(
  wsUrl: string,
  token: string,
  options: { topic?: string; timeoutMs?: number } = {},
): Promise<WebSocket> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const ws = new WebSocket(`${wsUrl}?token=${encodeURIComponent(token)}`, { perMessageDeflate: false });
  try {
    await once<void>(ws, timeoutMs, (done) => ws.once('open', () => done()));
    if (options.topic !== undefined) {
      const reply = once<string>(ws, timeoutMs, (done) =>
        ws.once('message', (data: Buffer) => done(data.toString('utf8'))),
      );
      ws.send(JSON.stringify({ action: 'subscribe', topic: options.topic }));
      const frame = JSON.parse(await reply) as { type?: string; code?: string };
      if (frame.type !== 'subscribed') throw new Error(`subscribe answered ${JSON.stringify(frame)}`);
    }
  } catch (error) {
    ws.terminate();
    throw error;
  }
  ws.on('error', () => {});
  return ws;
}

/**
 * Opens `count` sockets, `concurrency` handshakes at a time.
 *
 * @example
 * const { sockets, failed } = await openSockets({ wsUrl, tokenSecret, count: 10_000 });
 */
export async function openSockets(options: OpenSocketsOptions): Promise<OpenedSockets> {
  const started = performance.now();
  const key = secretKey(options.tokenSecret);
  const uidOf = options.uidOf ?? ((i: number) => `bench-${i}`);
  const topics = options.topic === undefined ? [] : [options.topic];
  const sockets: WebSocket[] = [];
  let failed = 0;
  let settled = 0;
  let firstError: string | undefined;
  const indexes = Array.from({ length: options.count }, (_, i) => i);
  await forEachBounded(indexes, options.concurrency ?? 64, async (i) => {
    try {
      const token = await signToken({ uid: uidOf(i), topics, ttlSeconds: 3 * 3600 }, key);
      sockets.push(
        await openSocket(options.wsUrl, token, {
          ...(options.topic === undefined ? {} : { topic: options.topic }),
          ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        }),
      );
    } catch (error) {
      failed++;
      firstError ??= error instanceof Error ? error.message : String(error);
    }
    settled++;
    options.onProgress?.(settled);
  });
  return {
    sockets,
    failed,
    ...(firstError === undefined ? {} : { firstError }),
    elapsedMs: performance.now() - started,
  };
}

/** Closes every socket and waits (at most `timeoutMs`) for the closes; stragglers are terminated. */
export async function closeSockets(sockets: readonly WebSocket[], timeoutMs = 10_000): Promise<void> {
  await Promise.all(
    sockets.map(
      (ws) =>
        new Promise<void>((resolve) => {
          if (ws.readyState === WebSocket.CLOSED) return resolve();
          const timer = setTimeout(() => {
            ws.terminate();
            resolve();
          }, timeoutMs);
          ws.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
          ws.close();
        }),
    ),
  );
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
      if (id === undefined) return;
      this.#waiting.get(id)?.(at);
      this.#waiting.delete(id);
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
