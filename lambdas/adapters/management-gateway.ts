import {
  ApiGatewayManagementApiClient,
  type ApiGatewayManagementApiClientConfig,
  DeleteConnectionCommand,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { ConnectionInfo, Gateway } from '../core/ports';
import {
  ForbiddenError,
  GoneError,
  PayloadTooLargeError,
  PushError,
  ThrottledError,
  UnavailableError,
} from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { QUOTAS } from '../shared/quotas';
import { ManagementHttpClient, type ManagementSender } from './management-http';

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
      return new PayloadTooLargeError(`message to ${connectionId} exceeds ${QUOTAS.maxMessageBytes} bytes`, {
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
  /**
   * The HTTP handler destroys a request that has not answered by then (queueing for a socket
   * included), so a hung post frees its socket. @default LIMITS.sendTimeoutMs
   */
  readonly requestTimeoutMs?: number;
  readonly region?: string;
  /** @default the SDK's default provider chain (the function's role in Lambda) */
  readonly credentials?: ApiGatewayManagementApiClientConfig['credentials'];
}

/**
 * The Management API client of the fan-out, where it runs once per delivery (management-http.ts):
 * each call is its REST request, signed with the SDK's signer on a keep-alive connection, with no
 * SDK middleware per call (about half of the publish handler's CPU per uid push went there);
 * its connection pool matches the fan-out concurrency; each call is destroyed at its request
 * timeout, waiting for a socket included, so a hung post frees its socket; one attempt, since the
 * fan-out retries with its own budget and backoff (retries underneath would multiply every
 * attempt and hide throttling from the counts). The one resend below it is of a post that never
 * reached the server: one put on a kept-alive socket the server had just closed (signed-http.ts).
 */
export function createManagementClient(options: ManagementClientOptions): ManagementHttpClient {
  return new ManagementHttpClient({
    settings: new ApiGatewayManagementApiClient({
      endpoint: options.endpoint,
      ...(options.region === undefined ? {} : { region: options.region }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    }),
    maxSockets: options.maxSockets ?? LIMITS.fanoutConcurrency,
    timeoutMs: options.requestTimeoutMs ?? LIMITS.sendTimeoutMs,
    connectTimeoutMs: MANAGEMENT_CONNECT_TIMEOUT_MS,
  });
}

/** Bound on opening a connection to the Management API. */
const MANAGEMENT_CONNECT_TIMEOUT_MS = 2_000;

/**
 * {@link Gateway} over the API Gateway Management API. Every call is also bounded here, whatever
 * client is injected: a client built without {@link createManagementClient}'s request timeout
 * could otherwise hang a delivery; the client's own timeout frees the socket.
 */
export class ManagementGateway implements Gateway {
  readonly #client: ManagementSender;
  readonly #timeoutMs: number;

  constructor(client: ManagementSender, options: { timeoutMs?: number } = {}) {
    this.#client = client;
    this.#timeoutMs = options.timeoutMs ?? LIMITS.sendTimeoutMs;
  }

  async send(connectionId: string, data: string | Uint8Array): Promise<void> {
    const Data = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    await this.#call(connectionId, () =>
      this.#client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data })),
    );
  }

  async info(connectionId: string): Promise<ConnectionInfo> {
    const out = await this.#call(connectionId, () =>
      this.#client.send(new GetConnectionCommand({ ConnectionId: connectionId })),
    );
    return {
      connectedAt: out.ConnectedAt ?? new Date(0),
      lastActiveAt: out.LastActiveAt ?? new Date(0),
      sourceIp: out.Identity?.SourceIp ?? '',
      userAgent: out.Identity?.UserAgent ?? '',
    };
  }

  async close(connectionId: string): Promise<void> {
    await this.#call(connectionId, () =>
      this.#client.send(new DeleteConnectionCommand({ ConnectionId: connectionId })),
    );
  }

  async #call<T>(connectionId: string, call: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new UnavailableError(
            `Management API call for ${connectionId} timed out after ${this.#timeoutMs} ms`,
          ),
        );
      }, this.#timeoutMs);
    });
    try {
      return await Promise.race([call(), timeout]);
    } catch (error) {
      throw translateManagementError(error, connectionId);
    } finally {
      clearTimeout(timer);
    }
  }
}
