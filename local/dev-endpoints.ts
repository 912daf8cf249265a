/**
 * Local-only conveniences, under `/dev/`: they exist in the local stack and nowhere else.
 *
 * - `GET /dev/token?uid=u1&topics=orders,news&ttl=3600` signs a client token with the local secret.
 * - `GET /dev/config` tells a page where the WebSocket and the other endpoints are.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_CODES } from '../lambdas/shared/errors';
import { devTokenRequest, signDevToken } from './dev-token';
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
  const search = url.searchParams;
  const request = devTokenRequest(search.get('uid'), search.getAll('topics'), search.get('ttl'));
  if (typeof request === 'string') {
    sendJson(res, 400, { error: { code: ERROR_CODES.badRequest, message: request } }, CORS);
    return true;
  }
  const token = await signDevToken(request, options.tokenSecret, options.tokenAudience);
  sendJson(res, 200, { token }, { ...CORS, 'Cache-Control': 'no-store' });
  return true;
}
