/**
 * `POST /publish` and `GET /publish/<id>`: a plain-HTTP front for the publish handler, for shells
 * and scripts (`curl`, `npm run publish`). Backends use the Lambda Invoke and SNS endpoints with
 * the real SDK clients.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseCommand } from '../lambdas/core/command';
import { ERROR_CODES, type ErrorCode, PushError } from '../lambdas/shared/errors';
import { QUOTAS } from '../lambdas/shared/quotas';
import { functionErrorPayload } from './function-errors';
import type { LocalFunctions } from './functions';
import { readBody, sendJson, utf8Text } from './http-util';
import type { Logger } from './logger';

/** Bodies past this are refused before the handler runs: what one Lambda invoke can carry. */
const MAX_BODY_BYTES = QUOTAS.maxPublishBodyBytes;

const STATUS: Readonly<Partial<Record<ErrorCode, number>>> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  gone: 410,
  payload_too_large: 413,
  throttled: 429,
};

/**
 * The status of a handler that threw: a stable code's own (`unavailable` 503 and `throttled` 429
 * when DynamoDB is down, a table missing or a call throttled: nothing the caller sent, retry),
 * else 500 (`internal`).
 */
function thrownStatus(body: { code: string }): number {
  if (body.code === ERROR_CODES.unavailable) return 503;
  if (body.code === ERROR_CODES.throttled) return 429;
  return 500;
}

const KNOWN_CODES = new Set<string>(Object.values(ERROR_CODES));

function isRejection(value: unknown): value is { error: { code: ErrorCode; message: string } } {
  const error = (value as { error?: { code?: unknown } } | null)?.error;
  return typeof error === 'object' && error !== null && typeof error.code === 'string';
}

/**
 * The `{code, message}` of a thrown error: its own stable code if it has one; else the function
 * itself failed (its timeout, its environment's crash, a stack that is stopping, a bug), which the
 * Lambda publisher reports for any function error: `unavailable`, as the publish may have run and
 * a retry with the same id delivers once.
 */
function thrownBody(error: unknown): { code: string; message: string } {
  const e = error as { code?: unknown; message?: unknown } | null;
  if (typeof e?.code === 'string' && KNOWN_CODES.has(e.code) && typeof e.message === 'string') {
    return { code: e.code, message: e.message };
  }
  const { errorType, errorMessage } = functionErrorPayload(error);
  return {
    code: ERROR_CODES.unavailable,
    message: `the publish function failed: ${errorType}: ${errorMessage}; retry with the same id`,
  };
}

/**
 * Handles `POST /publish`: 200 with `{id, connections, delivered, gone, failed}` (or a batch's
 * `{results}`); 400 / 413 with
 * `{"error":{code,message}}` for input the handler refused; when the handler threw, the same shape
 * with 503 (`unavailable`: DynamoDB down, a table missing, the same id still running, or the
 * function itself failed), 429 (`throttled`) or 500 (`internal`).
 */
export async function handlePublish(
  req: IncomingMessage,
  res: ServerResponse,
  functions: LocalFunctions,
  logger: Logger,
): Promise<void> {
  if (req.method !== 'POST') {
    req.resume();
    sendJson(res, 405, { error: { code: ERROR_CODES.badRequest, message: 'use POST' } }, { Allow: 'POST' });
    return;
  }
  // A web page may POST text/plain anywhere without a preflight; insisting on JSON keeps any site
  // open in the developer's browser from publishing to the local stack.
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
    req.resume();
    sendJson(res, 415, {
      error: { code: ERROR_CODES.badRequest, message: 'POST /publish takes Content-Type: application/json' },
    });
    return;
  }
  const body = await readBody(req, MAX_BODY_BYTES);
  if (body.tooLarge) {
    sendJson(res, 413, {
      error: { code: ERROR_CODES.payloadTooLarge, message: `body exceeds ${MAX_BODY_BYTES} bytes` },
    });
    return;
  }
  const text = utf8Text(body.bytes);
  if (text === undefined) {
    sendJson(res, 400, { error: { code: ERROR_CODES.badRequest, message: 'body is not valid UTF-8' } });
    return;
  }
  try {
    // The raw text goes in, so the handler's own parser decides what is valid JSON and what is too big.
    const result = await functions.invoke('publish', text);
    if (isRejection(result)) {
      sendJson(res, STATUS[result.error.code] ?? 400, result);
      return;
    }
    sendJson(res, 200, result);
  } catch (error) {
    logger.error('publish failed', { error: error instanceof Error ? error.message : String(error) });
    const body = thrownBody(error);
    sendJson(res, thrownStatus(body), { error: body });
  }
}

/** The answer to anything but GET under /publish/: that path reads a status, it does not publish. */
const STATUS_NOT_PUBLISH =
  "use GET: /publish/<id> reads a sharded publish's status; publish with POST /publish";

/** The path prefix of a sharded publish's status. */
export const STATUS_PREFIX = '/publish/';

/**
 * `GET /publish/<id>`: the status of a sharded publish, from the publish handler
 * (`{"status":"<id>"}`): 200 with `{id, status, shards, shardsDone, connections, delivered, gone,
 * failed}`; 400 for an id the handler would refuse; 404 when no sharded publish has that id.
 */
export async function handlePublishStatus(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  functions: LocalFunctions,
  logger: Logger,
): Promise<void> {
  req.resume();
  if (req.method !== 'GET') {
    // Most often a publish sent one /publish too far (a base URL that already ended in /publish):
    // the answer says which path does what.
    sendJson(
      res,
      405,
      { error: { code: ERROR_CODES.badRequest, message: STATUS_NOT_PUBLISH } },
      { Allow: 'GET' },
    );
    return;
  }
  let id: string;
  try {
    id = decodeURIComponent(pathname.slice(STATUS_PREFIX.length));
    // The handler's own parser judges the id, so an id is valid here exactly when it is there.
    parseCommand({ status: id });
  } catch (error) {
    const message = error instanceof PushError ? error.message : 'the id is not valid percent-encoding';
    sendJson(res, 400, { error: { code: ERROR_CODES.badRequest, message } });
    return;
  }
  try {
    const result = await functions.invoke('publish', { status: id });
    if (isRejection(result)) sendJson(res, STATUS[result.error.code] ?? 400, result);
    else sendJson(res, 200, result);
  } catch (error) {
    logger.error('publish status failed', { error: error instanceof Error ? error.message : String(error) });
    const body = thrownBody(error);
    sendJson(res, thrownStatus(body), { error: body });
  }
}
