/**
 * SigV4-signed HTTP requests on a keep-alive agent: the transport of the calls a push makes on
 * every delivery (dynamo-http.ts, management-http.ts). The signature is the one the SDK's signer
 * (`@smithy/signature-v4`) gives, computed by sigv4.ts in one pass (one signer per endpoint,
 * asking the credentials provider at each signing, so rotated credentials are picked up); the
 * request is node:http's. Nothing else runs per call: the SDK's middleware stack cost a uid push
 * about half of the publish handler's CPU (bench row p), and the SDK's signer about a sixth of
 * what was left.
 */
import {
  type ClientRequest,
  Agent as HttpAgent,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';
import { RequestSigner } from './sigv4';

/** An answer, whatever its status: the service's client reads its error from the body. */
export interface SignedAnswer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

/**
 * An error a service answered, shaped as the SDK's service exceptions are: named by the service's
 * own error type, with `$fault` and `$metadata` (its status, request id and the attempts made).
 */
export class ServiceError extends Error {
  override readonly name: string;
  readonly $fault: 'client' | 'server';
  readonly $metadata: { readonly httpStatusCode: number; readonly requestId?: string; attempts?: number };

  constructor(name: string, message: string, answer: Pick<SignedAnswer, 'status' | 'headers'>) {
    super(message);
    this.name = name;
    this.$fault = answer.status >= 500 ? 'server' : 'client';
    this.$metadata = answerMetadata(answer);
  }
}

/** An answer's `$metadata` as the SDK gives it: status, request id, and the attempts when known. */
export function answerMetadata(
  answer: Pick<SignedAnswer, 'status' | 'headers'>,
  attempts?: number,
): { httpStatusCode: number; requestId?: string; attempts?: number } {
  const requestId = answer.headers['x-amzn-requestid'];
  return {
    httpStatusCode: answer.status,
    ...(typeof requestId === 'string' ? { requestId } : {}),
    ...(attempts === undefined ? {} : { attempts }),
  };
}

/**
 * The operation an SDK command names in its schema (`[kind, namespace, operation, ...]`), or
 * undefined for anything else.
 */
export function operationOf(command: object): string | undefined {
  const schema = (command as { schema?: unknown }).schema;
  const name = Array.isArray(schema) ? schema[2] : undefined;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/**
 * A request cut at its bound, named as the SDK names its own (`TimeoutError`), so the callers'
 * error translation and retry rules treat both alike.
 */
export class RequestTimeoutError extends Error {
  override readonly name = 'TimeoutError';
  constructor(what: string, timeoutMs: number) {
    super(`${what} took longer than ${timeoutMs} ms`);
  }
}

/** Options for {@link SignedHttp}. */
export interface SignedHttpOptions {
  /** `https://host[:port][/base]`; the base path (the Management API's stage) prefixes every request. */
  readonly endpoint: URL;
  /** The signing name: `dynamodb`, `execute-api`. */
  readonly service: string;
  readonly region: string;
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Sockets kept open to the endpoint; requests beyond them wait for one. */
  readonly maxSockets: number;
  /**
   * Bound on each request, from when it is handed to the agent (waiting for a socket included)
   * until its answer's head has arrived, and again on reading the answer's body. The request is
   * destroyed at either, freeing its socket.
   */
  readonly timeoutMs: number;
  /** Bound on opening a new connection, within {@link timeoutMs}. @default timeoutMs */
  readonly connectTimeoutMs?: number;
}

/**
 * One endpoint's signed requests.
 *
 * @example
 * const http = new SignedHttp({ endpoint: new URL('http://127.0.0.1:8000'), service: 'dynamodb',
 *   region: 'us-east-1', credentials, maxSockets: 50, timeoutMs: 5_000 });
 * const { status, body } = await http.request('POST', '/', headers, '{"TableName":"t"}');
 */
export class SignedHttp {
  readonly #signer: RequestSigner;
  readonly #agent: HttpAgent;
  readonly #send: typeof httpRequest;
  readonly #hostname: string;
  readonly #port: number | undefined;
  readonly #host: string;
  readonly #basePath: string;
  readonly #timeoutMs: number;
  readonly #connectTimeoutMs: number;
  readonly #maxSockets: number;

  constructor(options: SignedHttpOptions) {
    const url = options.endpoint;
    const https = url.protocol === 'https:';
    if (!https && url.protocol !== 'http:') throw new TypeError(`not an HTTP endpoint: ${url.href}`);
    this.#hostname = url.hostname.replace(/^\[(.*)\]$/, '$1');
    this.#port = url.port === '' ? undefined : Number(url.port);
    this.#host = url.host;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    this.#send = https ? httpsRequest : httpRequest;
    const agentOptions = { keepAlive: true, maxSockets: options.maxSockets };
    this.#agent = https ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#timeoutMs = options.timeoutMs;
    this.#maxSockets = options.maxSockets;
    this.#connectTimeoutMs = Math.min(options.connectTimeoutMs ?? options.timeoutMs, options.timeoutMs);
    this.#signer = new RequestSigner({
      service: options.service,
      region: options.region,
      credentials: options.credentials,
    });
  }

  /**
   * Signs and sends one request; `path` (already URI-encoded) is below the endpoint's base path,
   * and `headers` is the request's own object (`host` and `content-length` are set on it).
   * Resolves with any answer that arrived whole; rejects when none did (a refused or reset
   * connection, a bound passed: {@link RequestTimeoutError}).
   *
   * A kept-alive socket the server closed while idle is sent again, on another socket: the server
   * closes an idle connection when its own keep-alive timeout passes, and a request the agent put
   * on that socket at the same moment is reset before any of it was read (Node's http docs name
   * `reusedSocket` for exactly this). Only a reset of a reused socket before any answer is sent
   * again, within the one bound; a new connection's reset, or one mid-answer, is the caller's.
   */
  async request(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | Uint8Array,
  ): Promise<SignedAnswer> {
    const fullPath = this.#basePath + path;
    headers.host = this.#host;
    headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength);
    const signed = await this.#signer.sign({ method, path: fullPath, headers, body });
    const deadline = performance.now() + this.#timeoutMs;
    // Every stale socket fails once and is dropped, so this ends within the pool's size.
    for (let stale = 0; ; stale++) {
      const sent = await this.#attempt(method, fullPath, signed, body, deadline - performance.now());
      if ('answer' in sent) return sent.answer;
      if (stale >= this.#maxSockets || deadline - performance.now() < 1) throw sent.staleSocket;
    }
  }

  /** One try on whichever socket the agent gives; a reused socket reset before any answer is told apart. */
  #attempt(
    method: string,
    fullPath: string,
    headers: Record<string, string>,
    body: string | Uint8Array,
    boundMs: number,
  ): Promise<{ readonly answer: SignedAnswer } | { readonly staleSocket: Error }> {
    return new Promise((resolve, reject) => {
      let settled = false;
      let answered = false;
      const finish = (error: Error | undefined, answer?: SignedAnswer) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (error === undefined) resolve({ answer: answer as SignedAnswer });
        else if (!answered && req.reusedSocket && isReset(error)) resolve({ staleSocket: error });
        else reject(error);
      };
      const req: ClientRequest = this.#send(
        {
          agent: this.#agent,
          method,
          hostname: this.#hostname,
          ...(this.#port === undefined ? {} : { port: this.#port }),
          path: fullPath,
          headers,
        },
        (res: IncomingMessage) => {
          answered = true;
          // Answered: the request's bound ends at the answer's head, as the SDK's request timeout
          // does, and the body gets a bound of its own. With one bound up to the body's end, bench
          // row c saw, in four runs of five, a hundred or more posts time out four attempts in a
          // row although each attempt had reached its connection; bounded to the head, none did.
          clearTimeout(timer);
          timer = setTimeout(
            () =>
              res.destroy(new RequestTimeoutError(`reading the answer from ${this.#host}`, this.#timeoutMs)),
            this.#timeoutMs,
          );
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => finish(error));
          // A connection that closes mid-body, without an error, must not leave the call waiting.
          res.once('close', () => {
            if (!res.complete)
              finish(
                Object.assign(new Error('connection closed before the answer ended'), { code: 'ECONNRESET' }),
              );
          });
          res.once('end', () =>
            finish(undefined, {
              status: res.statusCode ?? 0,
              headers: res.headers,
              body: chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks),
            }),
          );
        },
      );
      let timer = setTimeout(
        () => req.destroy(new RequestTimeoutError(`${method} ${this.#host}${fullPath}`, this.#timeoutMs)),
        Math.max(1, boundMs),
      );
      req.on('error', (error) => finish(error));
      if (this.#connectTimeoutMs < this.#timeoutMs) this.#boundConnect(req);
      req.end(body);
    });
  }

  /** Cuts a request whose new connection is not open within the connect bound. */
  #boundConnect(req: ClientRequest): void {
    req.once('socket', (socket: Socket) => {
      if (!socket.connecting) return;
      const cut = setTimeout(
        () => req.destroy(new RequestTimeoutError(`connecting to ${this.#host}`, this.#connectTimeoutMs)),
        this.#connectTimeoutMs,
      );
      const clear = () => clearTimeout(cut);
      socket.once('connect', clear);
      socket.once('close', clear);
    });
  }

  /** Closes the kept sockets; requests in flight fail. */
  destroy(): void {
    this.#agent.destroy();
  }
}

/** A connection reset or written to after the other end closed it. */
function isReset(error: Error): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'ECONNRESET' || code === 'EPIPE';
}

/** The SDK's resolved endpoint (`{ protocol, hostname, port, path }`) as a URL. */
export function endpointUrl(endpoint: {
  readonly protocol: string;
  readonly hostname: string;
  readonly port?: number;
  readonly path: string;
}): URL {
  const port = endpoint.port === undefined ? '' : `:${endpoint.port}`;
  return new URL(`${endpoint.protocol}//${endpoint.hostname}${port}${endpoint.path}`);
}

/**
 * A transport made at its first use from settings read asynchronously (an SDK client's); a failure
 * is not kept, so the next use tries again.
 */
export class LazyTransport<T extends { readonly http: SignedHttp }> {
  readonly #make: () => Promise<T>;
  #made: Promise<T> | undefined;

  constructor(make: () => Promise<T>) {
    this.#make = make;
  }

  get(): Promise<T> {
    this.#made ??= this.#make().catch((error: unknown) => {
      this.#made = undefined;
      throw error;
    });
    return this.#made;
  }

  /** Closes the transport's sockets, if it was made; the next use makes it again. */
  destroy(): void {
    const made = this.#made;
    this.#made = undefined;
    void made?.then(
      ({ http }) => http.destroy(),
      () => {},
    );
  }
}
