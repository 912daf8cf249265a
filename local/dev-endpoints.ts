/**
 * Local-only conveniences, under `/dev/`: they exist in the local stack and nowhere else.
 *
 * - `GET /dev/token?uid=u1&topics=orders,news&ttl=3600` signs a client token with the local secret.
 * - `GET /dev/config` tells a page where the WebSocket and the other endpoints are.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isValidUid } from '../lambdas/core/publish-request';
import { secretKey, signToken } from '../lambdas/core/token';
import { parseGrants } from '../lambdas/core/topics';
import { ERROR_CODES } from '../lambdas/shared/errors';
import { sendJson } from './http-util';

/** What the dev endpoints need from the stack. */
export interface DevEndpointsOptions {
  readonly tokenSecret: string;
  /** Required `aud` (when the authorizer checks one). */
  readonly tokenAudience?: string;
  readonly config: Readonly<Record<string, string>>;
}

// A page served from another dev server (Vite on :5173, say) may fetch tokens too.
const CORS = { 'Access-Control-Allow-Origin': '*' };

function badRequest(res: ServerResponse, message: string): void {
  sendJson(res, 400, { error: { code: ERROR_CODES.badRequest, message } }, CORS);
}

/** Parses `topics`: repeated parameters and comma-separated lists both work. */
export function topicsParam(search: URLSearchParams): string[] {
  return search
    .getAll('topics')
    .flatMap((value) => value.split(','))
    .map((topic) => topic.trim())
    .filter((topic) => topic !== '');
}

/** Validates `uid`, `topics` and `ttl`; a string is the error message. */
export function tokenRequest(
  search: URLSearchParams,
): { uid: string; topics: string[]; ttlSeconds: number } | string {
  const uid = search.get('uid');
  if (!isValidUid(uid)) return 'uid must be a non-empty string of at most 128 characters';
  const topics = parseGrants(topicsParam(search));
  if (topics === undefined) return 'topics must be topic names or prefix* patterns';
  const ttl = search.get('ttl');
  const ttlSeconds = ttl === null ? 3600 : Number(ttl);
  if (!Number.isInteger(ttlSeconds) || ttlSeconds <= 0) return 'ttl must be a positive number of seconds';
  return { uid, topics, ttlSeconds };
}

/** Handles a request under `/dev/`; false when the path is not one of its own. */
export async function handleDev(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  options: DevEndpointsOptions,
): Promise<boolean> {
  if (url.pathname === '/dev/config') {
    sendJson(res, 200, options.config, CORS);
    return true;
  }
  if (url.pathname !== '/dev/token') return false;
  if (req.method !== 'GET') {
    sendJson(
      res,
      405,
      { error: { code: ERROR_CODES.badRequest, message: 'use GET' } },
      { ...CORS, Allow: 'GET' },
    );
    return true;
  }
  const request = tokenRequest(url.searchParams);
  if (typeof request === 'string') {
    badRequest(res, request);
    return true;
  }
  const { uid, topics, ttlSeconds } = request;
  const token = await signToken(
    {
      uid,
      topics,
      ttlSeconds,
      ...(options.tokenAudience === undefined ? {} : { audience: options.tokenAudience }),
    },
    secretKey(options.tokenSecret),
  );
  sendJson(res, 200, { token }, { ...CORS, 'Cache-Control': 'no-store' });
  return true;
}
