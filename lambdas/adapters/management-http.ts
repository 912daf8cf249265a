/**
 * The hot-path API Gateway Management API client: `PostToConnection`, `GetConnection` and
 * `DeleteConnection` as their REST calls over {@link SignedHttp}, one attempt each (the fan-out
 * retries with its own budget and backoff). An error is named as the SDK names it, from the
 * `x-amzn-ErrorType` header API Gateway sends (`GoneException`, `LimitExceededException`,
 * `PayloadTooLargeException`, `ForbiddenException`), or from the status when a proxy answered.
 */
import type {
  ApiGatewayManagementApiClient,
  ApiGatewayManagementApiClientResolvedConfig,
  GetConnectionCommandOutput,
  ServiceInputTypes,
  ServiceOutputTypes,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { Command } from '@smithy/types';
import {
  answerMetadata,
  endpointUrl,
  LazyTransport,
  operationOf,
  ServiceError,
  type SignedAnswer,
  SignedHttp,
} from './signed-http';

/**
 * What {@link ManagementGateway} needs of a client: sending a command. Both this module's client
 * and the SDK's `ApiGatewayManagementApiClient` (the one tests mock) are one.
 */
export interface ManagementSender {
  send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    command: Command<
      ServiceInputTypes,
      I,
      ServiceOutputTypes,
      O,
      ApiGatewayManagementApiClientResolvedConfig
    >,
  ): Promise<O>;
  destroy(): void;
}

/** An error the Management API answered, shaped as the SDK's service exceptions are. */
export class ManagementServiceError extends ServiceError {}

/** What each status means when no `x-amzn-ErrorType` names the error. */
const NAME_BY_STATUS: Readonly<Record<number, string>> = {
  403: 'ForbiddenException',
  410: 'GoneException',
  413: 'PayloadTooLargeException',
  429: 'LimitExceededException',
};

/** Names a refusal by `x-amzn-ErrorType` (`GoneException:http://...`), else by its status. */
export function managementErrorOf(answer: SignedAnswer): ManagementServiceError {
  const header = answer.headers['x-amzn-errortype'];
  const typed = typeof header === 'string' ? header.split(':')[0]?.trim() : undefined;
  let message = '';
  try {
    const body = JSON.parse(answer.body.toString('utf8')) as { message?: unknown; Message?: unknown };
    const text = body.message ?? body.Message;
    if (typeof text === 'string') message = text;
  } catch {
    // An empty body (a 410) or a proxy's page.
  }
  const name =
    typed ||
    NAME_BY_STATUS[answer.status] ||
    (answer.status >= 500 ? 'InternalServerError' : `UnknownError${answer.status}`);
  return new ManagementServiceError(name, message || `the Management API answered ${answer.status}`, answer);
}

/** The SDK's encoding of a path label: encodeURIComponent, and `!'()*` too. */
function pathLabel(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** Options for {@link ManagementHttpClient}. */
export interface ManagementHttpOptions {
  /**
   * The SDK client whose settings this one takes once, at its first call: endpoint (with the
   * stage), region and credentials provider.
   */
  readonly settings: ApiGatewayManagementApiClient;
  /** Sockets kept open; match it to the fan-out concurrency. */
  readonly maxSockets: number;
  /** Bound on each call, waiting for a socket included; the request is destroyed then. */
  readonly timeoutMs: number;
  /** Bound on opening a connection. @default timeoutMs */
  readonly connectTimeoutMs?: number;
}

type Input = { readonly ConnectionId?: string; readonly Data?: Uint8Array | string };

/**
 * Sends the three Management API commands as their REST calls, one attempt each.
 *
 * @example
 * const client = new ManagementHttpClient({ settings: new ApiGatewayManagementApiClient({ endpoint }),
 *   maxSockets: 64, timeoutMs: 3_000 });
 * await client.send(new PostToConnectionCommand({ ConnectionId, Data }));
 */
export class ManagementHttpClient implements ManagementSender {
  readonly #options: ManagementHttpOptions;
  /** The transport, made at the first call from the SDK client's settings. */
  readonly #transport: LazyTransport<{ readonly http: SignedHttp }>;

  constructor(options: ManagementHttpOptions) {
    this.#options = options;
    this.#transport = new LazyTransport(async () => ({ http: await resolveHttp(options) }));
  }

  async send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    command: Command<
      ServiceInputTypes,
      I,
      ServiceOutputTypes,
      O,
      ApiGatewayManagementApiClientResolvedConfig
    >,
  ): Promise<O> {
    const name = operationOf(command);
    const input = command.input as Input;
    if (typeof input.ConnectionId !== 'string' || input.ConnectionId === '') {
      throw new TypeError(`${String(name)} needs a ConnectionId`);
    }
    const path = `/@connections/${pathLabel(input.ConnectionId)}`;
    const { http } = await this.#transport.get();
    let answer: SignedAnswer;
    switch (name) {
      case 'PostToConnection': {
        const data = input.Data ?? '';
        answer = await http.request('POST', path, {}, data);
        break;
      }
      case 'GetConnection':
        answer = await http.request('GET', path, {}, '');
        break;
      case 'DeleteConnection':
        answer = await http.request('DELETE', path, {}, '');
        break;
      default:
        throw new TypeError(`not a Management API command this client sends: ${String(name)}`);
    }
    if (answer.status < 200 || answer.status > 299) throw managementErrorOf(answer);
    const $metadata = answerMetadata(answer, 1);
    if (name !== 'GetConnection') return { $metadata } as O;
    return { ...connectionOf(answer.body), $metadata } as O;
  }

  destroy(): void {
    this.#transport.destroy();
    this.#options.settings.destroy();
  }
}

/** GetConnection's answer (`connectedAt`, `identity`, `lastActiveAt`) as the SDK's output. */
function connectionOf(body: Buffer): Omit<GetConnectionCommandOutput, '$metadata'> {
  const raw = JSON.parse(body.toString('utf8')) as {
    connectedAt?: string;
    lastActiveAt?: string;
    identity?: { sourceIp?: string; userAgent?: string };
  };
  return {
    ...(raw.connectedAt === undefined ? {} : { ConnectedAt: new Date(raw.connectedAt) }),
    ...(raw.identity === undefined
      ? {}
      : {
          Identity: { SourceIp: raw.identity.sourceIp, UserAgent: raw.identity.userAgent },
        }),
    ...(raw.lastActiveAt === undefined ? {} : { LastActiveAt: new Date(raw.lastActiveAt) }),
  };
}

async function resolveHttp(options: ManagementHttpOptions): Promise<SignedHttp> {
  const config = options.settings.config;
  const own = await config.endpoint?.();
  if (own === undefined) throw new TypeError('the Management API client needs its endpoint (with the stage)');
  return new SignedHttp({
    endpoint: endpointUrl(own),
    service: 'execute-api',
    region: await config.region(),
    credentials: config.credentials,
    maxSockets: options.maxSockets,
    timeoutMs: options.timeoutMs,
    ...(options.connectTimeoutMs === undefined ? {} : { connectTimeoutMs: options.connectTimeoutMs }),
  });
}
