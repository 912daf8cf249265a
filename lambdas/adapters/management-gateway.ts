import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { ConnectionInfo, Gateway } from '../core/ports';
import {
  ForbiddenError,
  GoneError,
  PayloadTooLargeError,
  PushError,
  ThrottledError,
  UnavailableError,
} from '../shared/errors';
import { LIMITS } from '../shared/names';

/** Translates a Management API error by its SDK v3 `name` (never `statusCode`, which v3 lacks). */
export function translateManagementError(error: unknown, connectionId: string): PushError {
  if (error instanceof PushError) return error;
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  switch (e?.name) {
    case 'GoneException':
      return new GoneError(`connection ${connectionId} is gone`, { cause: error });
    case 'LimitExceededException':
    case 'TooManyRequestsException':
      return new ThrottledError(`Management API throttled a send to ${connectionId}`, { cause: error });
    case 'PayloadTooLargeException':
      return new PayloadTooLargeError(`message to ${connectionId} exceeds ${LIMITS.maxMessageBytes} bytes`, {
        cause: error,
      });
    case 'ForbiddenException':
      return new ForbiddenError(`Management API refused access to ${connectionId}`, { cause: error });
    case 'AbortError':
    case 'TimeoutError':
      return new UnavailableError(`Management API call for ${connectionId} timed out`, { cause: error });
  }
  const status = e?.$metadata?.httpStatusCode;
  if (status === 410) return new GoneError(`connection ${connectionId} is gone`, { cause: error });
  if (status === 429) return new ThrottledError(`Management API throttled ${connectionId}`, { cause: error });
  // No status: the request never got an answer (reset, refused, DNS); worth retrying.
  if (status === undefined || status >= 500) {
    return new UnavailableError(`Management API unavailable for ${connectionId}`, { cause: error });
  }
  return new PushError('internal', `Management API rejected ${connectionId}: ${e?.name ?? status}`, {
    cause: error,
  });
}

/** Options for {@link createManagementClient}. */
export interface ManagementClientOptions {
  /** `https://{api}.execute-api.{region}.amazonaws.com/{stage}`, or the local stack's URL. */
  readonly endpoint: string;
  /** Sockets per origin; match it to the fan-out concurrency. @default LIMITS.fanoutConcurrency */
  readonly maxSockets?: number;
  readonly region?: string;
}

/**
 * A Management API client whose connection pool matches the fan-out concurrency: SDK v3's
 * default of 50 sockets would otherwise cap (or queue) deliveries.
 */
export function createManagementClient(options: ManagementClientOptions): ApiGatewayManagementApiClient {
  const maxSockets = options.maxSockets ?? LIMITS.fanoutConcurrency;
  return new ApiGatewayManagementApiClient({
    endpoint: options.endpoint,
    // The fan-out retries with its own budget and backoff; SDK retries underneath would multiply
    // every attempt by three and hide throttling from the counts.
    maxAttempts: 1,
    ...(options.region === undefined ? {} : { region: options.region }),
    requestHandler: new NodeHttpHandler({
      httpAgent: new HttpAgent({ keepAlive: true, maxSockets }),
      httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets }),
      connectionTimeout: 2_000,
    }),
  });
}

/**
 * {@link Gateway} over the API Gateway Management API. Every call is bounded by its own timeout,
 * because `PostToConnection` has been seen to ignore the SDK's request timeout and hang.
 */
export class ManagementGateway implements Gateway {
  readonly #client: ApiGatewayManagementApiClient;
  readonly #timeoutMs: number;

  constructor(client: ApiGatewayManagementApiClient, options: { timeoutMs?: number } = {}) {
    this.#client = client;
    this.#timeoutMs = options.timeoutMs ?? LIMITS.sendTimeoutMs;
  }

  async send(connectionId: string, data: string | Uint8Array): Promise<void> {
    const Data = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.#call(connectionId, (abortSignal) =>
      this.#client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data }), { abortSignal }),
    );
  }

  async info(connectionId: string): Promise<ConnectionInfo> {
    const out = await this.#call(connectionId, (abortSignal) =>
      this.#client.send(new GetConnectionCommand({ ConnectionId: connectionId }), { abortSignal }),
    );
    return {
      connectedAt: out.ConnectedAt ?? new Date(0),
      lastActiveAt: out.LastActiveAt ?? new Date(0),
      sourceIp: out.Identity?.SourceIp ?? '',
      userAgent: out.Identity?.UserAgent ?? '',
    };
  }

  async close(connectionId: string): Promise<void> {
    await this.#call(connectionId, (abortSignal) =>
      this.#client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }), { abortSignal }),
    );
  }

  async #call<T>(connectionId: string, call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(
          new UnavailableError(
            `Management API call for ${connectionId} timed out after ${this.#timeoutMs} ms`,
          ),
        );
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([call(controller.signal), timeout]);
    } catch (error) {
      throw translateManagementError(error, connectionId);
    } finally {
      clearTimeout(timer);
    }
  }
}
