/**
 * The API Gateway Management API on the stack's own host, with the stage in the path, as in AWS:
 * `POST|GET|DELETE /{stage}/@connections/{connectionId}`. Errors carry `x-amzn-ErrorType`, so
 * `@aws-sdk/client-apigatewaymanagementapi` raises `GoneException`, `PayloadTooLargeException`,
 * `LimitExceededException` and `ForbiddenException` by name. Signatures are not checked.
 *
 * For honest measurements and fault tests it can add latency to every call, throttle above a rate
 * (`faults.managementRateLimit`) and answer posts with random 429/500/410 (`faults.management`).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { QUOTAS } from '../lambdas/shared/quotas';
import { drawManagementFault } from './emulator/faults';
import type { WebSocketEmulator } from './emulator/gateway';
import { readBody, sendAwsJsonError, sendJson } from './http-util';
import type { IamEnforcer } from './iam/enforcer';
import { managementApiRequest } from './iam/requests';
import type { Logger } from './logger';

const PREFIX = '/@connections/';

/** Options for {@link createManagementApi}. */
export interface ManagementApiOptions {
  readonly emulator: WebSocketEmulator;
  /** @default QUOTAS.maxMessageBytes (128 KB) */
  readonly maxMessageBytes?: number;
  /**
   * Milliseconds added to every call before it is handled, so callers see a round trip like
   * AWS's (roughly 25 ms from a Lambda in the same region). @default 0
   */
  readonly latencyMs?: number;
  readonly logger: Logger;
  /** Refuses calls a function's role does not allow. @default none: every call is allowed */
  readonly iam?: IamEnforcer;
}

/** What the Management API answered, for tests and the bench. */
export interface ManagementStats {
  /** Calls answered, whatever the answer. */
  readonly requests: number;
  /** 429s from `faults.managementRateLimit`. */
  readonly rateLimited: number;
  /** Answers `faults.management` made up: 429, 500, 410, and posts it delayed. */
  readonly injectedThrottles: number;
  readonly injectedErrors: number;
  readonly injectedGone: number;
  readonly injectedDelays: number;
}

/** Handles one request whose path starts with `/{stage}/@connections`; false when the path is not its own. */
export type ManagementApiHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
) => Promise<boolean>;

/** The handler, its counters, and its latency (which can change while the stack runs). */
export interface ManagementApi {
  readonly handle: ManagementApiHandler;
  readonly stats: ManagementStats;
  /** Milliseconds added to every call; see {@link ManagementApiOptions.latencyMs}. */
  latencyMs: number;
}

function checkedLatency(ms: number): number {
  if (!(Number.isFinite(ms) && ms >= 0))
    throw new RangeError(`managementLatencyMs must be a non-negative number, got ${ms}`);
  return ms;
}

/**
 * Builds the Management API handler.
 *
 * @example
 * const client = new ApiGatewayManagementApiClient({ endpoint: stack.managementEndpoint });
 * await client.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'hello' }));
 */
export function createManagementApi(options: ManagementApiOptions): ManagementApi {
  const { emulator, logger, iam } = options;
  // The ARN the template's grants name: its own API id and stage, which the local ones may not be.
  const arnApi = iam?.managementApi ?? { apiId: emulator.apiId, stage: emulator.stage };
  const maxMessageBytes = options.maxMessageBytes ?? QUOTAS.maxMessageBytes;
  let latencyMs = checkedLatency(options.latencyMs ?? 0);
  const stagePrefix = `/${emulator.stage}${PREFIX}`;
  const stats = {
    requests: 0,
    rateLimited: 0,
    injectedThrottles: 0,
    injectedErrors: 0,
    injectedGone: 0,
    injectedDelays: 0,
  };

  const handle: ManagementApiHandler = async (req, res, pathname) => {
    if (!pathname.startsWith(`/${emulator.stage}/@connections`)) return false;
    stats.requests++;
    return answer(req, res, pathname);
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, pathname: string): Promise<true> => {
    const encodedId = pathname.startsWith(stagePrefix) ? pathname.slice(stagePrefix.length) : '';
    let connectionId: string;
    try {
      connectionId = decodeURIComponent(encodedId);
    } catch {
      connectionId = '';
    }
    if (
      connectionId === '' ||
      connectionId.includes('/') ||
      !['GET', 'POST', 'DELETE'].includes(req.method ?? '')
    ) {
      // API Gateway's answer to a route it does not have.
      req.resume();
      sendAwsJsonError(res, 403, 'ForbiddenException', { message: 'Missing Authentication Token' });
      return true;
    }
    const caller = iam?.callerOf(req);
    if (
      caller !== undefined &&
      iam?.refuse(res, 'execute-api', caller, [
        managementApiRequest(iam.scope, arnApi.apiId, arnApi.stage, req.method as string, connectionId),
      ])
    ) {
      req.resume();
      return true;
    }
    const body = req.method === 'POST' ? await readBody(req, maxMessageBytes) : undefined;
    if (body === undefined) req.resume();

    // The request travels to AWS first; what AWS decides happens after.
    if (latencyMs > 0) await sleep(latencyMs);

    if (emulator.throttled()) {
      stats.rateLimited++;
      sendAwsJsonError(res, 429, 'LimitExceededException', { message: 'Rate exceeded' });
      return true;
    }

    switch (req.method) {
      case 'POST': {
        if (body?.tooLarge) {
          sendAwsJsonError(res, 413, 'PayloadTooLargeException', {
            message: `Message of ${body.size} bytes exceeds the ${maxMessageBytes}-byte limit`,
          });
          return true;
        }
        if (await injectedFault(res, connectionId)) return true;
        const posted = emulator.post(connectionId, body?.bytes ?? Buffer.alloc(0));
        if (posted === 'gone') break;
        if (posted === 'full') {
          // The client reads slower than it is sent to: AWS refuses the post until it catches up.
          stats.rateLimited++;
          sendAwsJsonError(res, 429, 'LimitExceededException', { message: 'Rate exceeded' });
          return true;
        }
        res.writeHead(200, { 'Content-Length': 0 });
        res.end();
        return true;
      }
      case 'GET': {
        const info = emulator.describe(connectionId);
        if (info === undefined) break;
        sendJson(res, 200, {
          connectedAt: new Date(info.connectedAt).toISOString(),
          identity: {
            sourceIp: info.sourceIp,
            ...(info.userAgent === undefined ? {} : { userAgent: info.userAgent }),
          },
          lastActiveAt: new Date(info.lastActiveAt).toISOString(),
        });
        return true;
      }
      case 'DELETE': {
        if (!emulator.disconnect(connectionId)) break;
        res.writeHead(204);
        res.end();
        return true;
      }
    }
    logger.debug('@connections answered 410', { method: req.method, connectionId });
    sendGone(res, connectionId);
    return true;
  };

  /** Applies `faults.management` to one post; true when it answered in place of a delivery. */
  const injectedFault = async (res: ServerResponse, connectionId: string): Promise<boolean> => {
    const faults = emulator.faults.management;
    if (faults === undefined) return false;
    const draw = drawManagementFault(faults);
    if (draw.delayMs > 0) {
      stats.injectedDelays++;
      await sleep(draw.delayMs);
    }
    switch (draw.answer) {
      case 'throttle':
        stats.injectedThrottles++;
        sendAwsJsonError(res, 429, 'LimitExceededException', { message: 'Rate exceeded' });
        return true;
      case 'error':
        stats.injectedErrors++;
        sendAwsJsonError(res, 500, 'InternalServerErrorException', { message: 'Internal server error' });
        return true;
      case 'gone':
        // AWS saying gone about an open connection: the socket is left alone.
        stats.injectedGone++;
        sendGone(res, connectionId);
        return true;
      case undefined:
        return false;
    }
  };

  return {
    handle,
    stats,
    get latencyMs() {
      return latencyMs;
    },
    set latencyMs(ms: number) {
      latencyMs = checkedLatency(ms);
    },
  };
}

function sendGone(res: ServerResponse, connectionId: string): void {
  sendAwsJsonError(res, 410, 'GoneException', { message: `Connection ${connectionId} is gone` });
}
