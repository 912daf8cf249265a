/**
 * Local-only conveniences, under `/dev/`: they exist in the local stack and nowhere else.
 *
 * - `GET /dev/token?uid=u1&topics=orders,news&ttl=3600` signs a client token with the built-in dev
 *   secret, and only with it: a stack started with its own `PUSH_TOKEN_SECRET` answers 403.
 * - `GET /dev/config` tells a page where the WebSocket and the other endpoints are.
 *
 * Neither sends CORS headers: only pages the stack serves itself may read them (see
 * `origin-guard.ts` for the requests refused before they get here).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ERROR_CODES } from '../lambdas/shared/errors';
import { DEV_TOKEN_SECRET } from './dev-secret';
import { devTokenRequest, signDevToken } from './dev-token';
import { sendJson } from './http-util';

/** What the dev endpoints need from the stack. */
export interface DevEndpointsOptions {
  readonly tokenSecret: string;
  /** Required `aud` (when the authorizer checks one). */
  readonly tokenAudience?: string;
  readonly config: Readonly<Record<string, string>>;
}

/** What `/dev/token` answers on a stack with a secret of its own. */
export const CUSTOM_SECRET_REFUSAL =
  '/dev/token signs only with the built-in dev secret; this stack was started with its own PUSH_TOKEN_SECRET, so sign tokens with it yourself (npm run token, or the server SDK)';

/** Handles a request under `/dev/`; false when the path is not one of its own. */
export async function handleDev(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  options: DevEndpointsOptions,
): Promise<boolean> {
  if (url.pathname === '/dev/config') {
    sendJson(res, 200, options.config);
    return true;
  }
  if (url.pathname !== '/dev/token') return false;
  if (req.method !== 'GET') {
    sendJson(res, 405, { error: { code: ERROR_CODES.badRequest, message: 'use GET' } }, { Allow: 'GET' });
    return true;
  }
  // A secret someone chose is a real one: a URL that signs with it would hand out real tokens to
  // anything that can reach the port.
  if (options.tokenSecret !== DEV_TOKEN_SECRET) {
    sendJson(res, 403, { error: { code: ERROR_CODES.forbidden, message: CUSTOM_SECRET_REFUSAL } });
    return true;
  }
  const search = url.searchParams;
  const request = devTokenRequest(search.get('uid'), search.getAll('topics'), search.get('ttl'));
  if (typeof request === 'string') {
    sendJson(res, 400, { error: { code: ERROR_CODES.badRequest, message: request } });
    return true;
  }
  let token: string;
  try {
    token = await signDevToken(request, options.tokenSecret, options.tokenAudience);
  } catch (error) {
    // The signer refuses a grant whose token would not fit a handshake URL: the asker's to shorten.
    if (!(error instanceof TypeError)) throw error;
    sendJson(res, 400, { error: { code: ERROR_CODES.badRequest, message: error.message } });
    return true;
  }
  sendJson(res, 200, { token }, { 'Cache-Control': 'no-store' });
  return true;
}
