/**
 * The API Gateway Management API on the stack's own host, with the stage in the path, as in AWS:
 * `POST|GET|DELETE /{stage}/@connections/{connectionId}`. Errors carry `x-amzn-ErrorType`, so
 * `@aws-sdk/client-apigatewaymanagementapi` raises `GoneException`, `PayloadTooLargeException`,
 * `LimitExceededException` and `ForbiddenException` by name. Signatures are not checked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LIMITS } from '../lambdas/shared/names';
import type { WebSocketEmulator } from './emulator/gateway';
import { readBody, sendAwsJsonError, sendJson } from './http-util';
import type { Logger } from './logger';

const PREFIX = '/@connections/';

/** Options for {@link createManagementApi}. */
export interface ManagementApiOptions {
  readonly emulator: WebSocketEmulator;
  /** @default LIMITS.maxMessageBytes (128 KB) */
  readonly maxMessageBytes?: number;
  readonly logger: Logger;
}

/** Handles one request whose path starts with `/{stage}/@connections`; false when the path is not its own. */
export type ManagementApiHandler = (
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
) => Promise<boolean>;

/**
 * Builds the Management API handler.
 *
 * @example
 * const client = new ApiGatewayManagementApiClient({ endpoint: stack.managementEndpoint });
 * await client.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'hello' }));
 */
export function createManagementApi(options: ManagementApiOptions): ManagementApiHandler {
  const { emulator, logger } = options;
  const maxMessageBytes = options.maxMessageBytes ?? LIMITS.maxMessageBytes;
  const stagePrefix = `/${emulator.stage}${PREFIX}`;

  return async (req, res, pathname) => {
    if (!pathname.startsWith(`/${emulator.stage}/@connections`)) return false;
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
    const body = req.method === 'POST' ? await readBody(req, maxMessageBytes) : undefined;
    if (body === undefined) req.resume();

    if (emulator.throttled()) {
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
        if (emulator.post(connectionId, body?.bytes ?? Buffer.alloc(0)) === 'gone') break;
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
    sendAwsJsonError(res, 410, 'GoneException', { message: `Connection ${connectionId} is gone` });
    return true;
  };
}
