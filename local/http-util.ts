/** Small helpers the local stack's HTTP endpoints share. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo, Server } from 'node:net';

/**
 * A request's target as a URL, its path as sent: an origin-form target (`/a`, but also `//a` or
 * `/\\a`, which `new URL(target, base)` reads as a host name) is put after the base, never resolved
 * against it. Undefined for a target no URL can be made of (an absolute form such as `http://[`).
 *
 * @example
 * requestUrl('//publish')?.pathname // '//publish', not '/' on the host `publish'
 */
export function requestUrl(target: string | undefined): URL | undefined {
  const raw = target ?? '/';
  try {
    return raw.startsWith('/') ? new URL(`http://localhost${raw}`) : new URL(raw, 'http://localhost');
  } catch {
    return undefined;
  }
}

/** A request body, and whether it went over the limit (its bytes past the limit are not kept). */
export interface Body {
  readonly bytes: Buffer;
  readonly tooLarge: boolean;
  /** Size of the whole body, including what was not kept. */
  readonly size: number;
}

/**
 * Reads the body, keeping at most `limit` bytes. An oversized body is still read to the end, so
 * the caller can answer 413 on a healthy keep-alive connection instead of resetting it. A body its
 * client abandoned (the connection closed before its end, perhaps before this was called) rejects,
 * with `req.readableAborted` set, rather than leaving the caller waiting for an end that never comes.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Body> {
  return new Promise((resolve, reject) => {
    const cut = () => new Error('the connection closed before the body ended');
    if (req.readableAborted) {
      reject(cut());
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve({ bytes: Buffer.concat(chunks), tooLarge: size > limit, size }));
    req.on('error', reject);
    req.on('close', () => {
      if (!req.readableEnded) reject(cut());
    });
  });
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * `bytes` as UTF-8 text, or `undefined` when they are not UTF-8. Buffer's own decoding would turn
 * each bad byte into U+FFFD and carry on, so a body AWS refuses (Lambda answers
 * InvalidRequestContentException) would be taken, with characters the caller never sent.
 */
export function utf8Text(bytes: Uint8Array): string | undefined {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return undefined;
  }
}

/** Sends `body` as JSON with `status` and any extra headers. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  res.end(text);
}

/** Sends an AWS REST-JSON error: the type in `x-amzn-ErrorType` (what SDK v3 reads first) and the body. */
export function sendAwsJsonError(
  res: ServerResponse,
  status: number,
  errorType: string,
  body: Record<string, unknown>,
): void {
  sendJson(res, status, body, { 'x-amzn-ErrorType': errorType, 'x-amzn-RequestId': crypto.randomUUID() });
}

/**
 * Listens on a free port of `host` and resolves to that port; a failed listen rejects. Every local
 * server in front of DynamoDB (dynalite, the IAM gate, the index-lag proxy) starts this way.
 */
export async function listenOnFreePort(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}
