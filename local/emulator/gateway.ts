/**
 * The API Gateway WebSocket emulator: the `$connect` handshake (authorizer, then the connect
 * route), message routing to the routes the deployment model lists, stage and route throttles,
 * the 32 KB / 128 KB limits, idle and maximum-age timeouts, a bound on what a connection's socket
 * may hold unsent, and `$disconnect` after every close. The Management API (management-api.ts) drives it through
 * {@link WebSocketEmulator.post}, {@link WebSocketEmulator.describe} and
 * {@link WebSocketEmulator.disconnect}.
 */

import { isUtf8 } from 'node:buffer';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { type WebSocket, WebSocketServer } from 'ws';
import { HANDLER_NAMES, type HandlerId, type HostedHandlerId } from '../../lambdas/shared/deployment';
import type { AuthorizerContext, WebSocketResult } from '../../lambdas/shared/events';
import { ROUTE_SELECTION_EXPRESSION, ROUTES, TOKEN_QUERY_PARAM } from '../../lambdas/shared/protocol';
import { QUOTAS } from '../../lambdas/shared/quotas';
import type { RouteModel, ThrottleModel } from '../deployment/model';
import type { LocalFunctions } from '../functions';
import { requestUrl } from '../http-util';
import { RepeatLimiter } from '../log-limit';
import type { Logger } from '../logger';
import { evaluateAuthorizerResult } from './authorizer-result';
import { CLOSE, closeCodeForReadError, disconnectReason } from './close-codes';
import { type CloseCause, Connection, type ConnectionLimits } from './connection';
import {
  authorizerEvent,
  type ConnectionIdentity,
  connectEvent,
  connectMethodArn,
  disconnectEvent,
  messageEvent,
  peerAddress,
  requestHeaders,
} from './events';
import { EmulatorFaults } from './faults';
import { FrameMeters } from './frame-meter';
import { isWebSocketUpgrade, refuseHandshake } from './handshake';
import { gatewayId } from './ids';
import { nextHoldMs, TokenBucket } from './rate-limit';
import { selectRoute } from './routes';

export { EmulatorFaults } from './faults';

/** Options for {@link WebSocketEmulator}. */
export interface WebSocketEmulatorOptions {
  readonly functions: LocalFunctions;
  /** The API's routes, as the deployment model reads them from the template. */
  readonly routes: readonly RouteModel[];
  /** @default ROUTE_SELECTION_EXPRESSION */
  readonly routeSelectionExpression?: string;
  /** The stage's default route throttle, for each route without one of its own. @default none */
  readonly stageThrottle?: ThrottleModel;
  /**
   * Bytes a connection's socket may hold unsent. Past it, frames to the connection are refused:
   * a `@connections` post answers 429 `LimitExceededException`, as API Gateway does when a
   * client's buffer is full, and the gateway's own frames (route replies, error frames, the Too
   * Many Requests answers to refused frames) are dropped, each counted in `refusedFrames`. It
   * keeps the memory a client that sends without reading can hold bounded. @default 1 MiB
   */
  readonly maxBufferedBytes?: number;
  readonly stage: string;
  /** The HTTP server's port: the fallback `domainName` and `X-Forwarded-Port`. */
  readonly port: number;
  /** @default 'localpush0' (10 characters, like a real API id) */
  readonly apiId?: string;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default '000000000000' */
  readonly accountId?: string;
  /** @default QUOTAS.idleTimeoutSeconds (10 min) */
  readonly idleTimeoutMs?: number;
  /** @default QUOTAS.maxConnectionSeconds (2 h) */
  readonly maxConnectionMs?: number;
  /** @default QUOTAS.integrationTimeoutSeconds (29 s) */
  readonly integrationTimeoutMs?: number;
  /** @default QUOTAS.maxFrameBytes (32 KB) */
  readonly maxFrameBytes?: number;
  /** @default QUOTAS.maxMessageBytes (128 KB) */
  readonly maxMessageBytes?: number;
  /** The authorizer's identity source, `route.request.querystring.<name>`. @default the `$connect` authorizer's, else TOKEN_QUERY_PARAM */
  readonly identityQueryParam?: string;
  readonly logger: Logger;
}

/** What GetConnection reports. */
export interface ConnectionDescription {
  readonly connectedAt: number;
  readonly lastActiveAt: number;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

/** Emulator counters. */
export interface EmulatorStats {
  /** Open real (socket) connections. */
  readonly openConnections: number;
  readonly droppedDisconnects: number;
  /**
   * Messages (and handshakes) refused by a stage or route throttle, and messages read while their
   * connection was held back; each message is answered Too Many Requests.
   */
  readonly throttledRequests: number;
  /** Frames not sent because the connection's unsent bytes were over `maxBufferedBytes`. */
  readonly refusedFrames: number;
  /** The longest any connection's socket went unread for sending faster than it was let through. */
  readonly longestHoldMs: number;
  /** The most bytes any connection's socket held unsent, measured before each send. */
  readonly peakBufferedBytes: number;
  /** The bound on those bytes. */
  readonly maxBufferedBytes: number;
}

/**
 * Connections with no socket behind them, kept outside the stack and plugged in with
 * {@link WebSocketEmulator.attachSocketless}: the Management API treats them as open connections.
 * The bench and the fan-out tests use this to count deliveries to 100k connections on a small
 * machine (test/support/virtual/).
 */
export interface SocketlessConnections {
  /** Takes a PostToConnection; false when `connectionId` is not one of these. */
  post(connectionId: string, data: Buffer): boolean;
  /** What GetConnection describes, or undefined. */
  get(
    connectionId: string,
  ): { readonly identity: ConnectionIdentity; readonly lastActiveAt: number } | undefined;
  /** Forgets it for DeleteConnection and returns what its `$disconnect` needs, or undefined. */
  remove(
    connectionId: string,
  ): { readonly identity: ConnectionIdentity; readonly authorizer: AuthorizerContext } | undefined;
}

const DEFAULT_MAX_BUFFERED_BYTES = 1024 * 1024;

/** Ends one `cork()`; a function of its own so a hold schedules it without a closure. */
function uncork(socket: Duplex): void {
  socket.uncork();
}

/**
 * API Gateway's answer to a message refused by a throttle, with a fresh request id: the same text
 * `JSON.stringify` gives for `{message, connectionId, requestId}`, written directly because a
 * flooding client can cause thousands of these a second. Both ids are {@link gatewayId}s, which
 * need no escaping.
 */
export function tooManyRequests(connectionId: string): string {
  return `{"message":"Too Many Requests","connectionId":"${connectionId}","requestId":"${gatewayId()}"}`;
}

/** A connection's last hold: how long it was, and when it ends or ended. */
interface Hold {
  ms: number;
  endsAt: number;
  holding: boolean;
}

/**
 * How often the emulator looks for connections past their idle or maximum age: a tenth of the
 * shorter limit, at most a second, so a connection closes at most that late (API Gateway's own
 * timeouts are no more exact), with one timer for every connection instead of one each.
 */
function sweepIntervalMs(limits: ConnectionLimits): number {
  return Math.max(5, Math.min(1_000, Math.min(limits.idleTimeoutMs, limits.maxConnectionMs) / 10));
}

/** A token bucket for a throttle; undefined when the throttle sets no rate. */
function bucketFor(throttle: ThrottleModel | undefined): TokenBucket | 'closed' | undefined {
  if (throttle?.rateLimit === undefined) return undefined;
  // API Gateway lets nothing through a zero limit.
  if (throttle.rateLimit <= 0 || throttle.burstLimit === 0) return 'closed';
  return new TokenBucket(throttle.rateLimit, performance.now(), throttle.burstLimit ?? throttle.rateLimit);
}

/** A route's function, which the local stack must host. */
function hosted(handler: HandlerId, routeKey: string): HostedHandlerId {
  if (!(HANDLER_NAMES as readonly string[]).includes(handler))
    throw new RangeError(`route ${routeKey} integrates ${handler}, which the local stack does not host`);
  return handler as HostedHandlerId;
}

/** One route as the emulator serves it. */
interface ServedRoute {
  readonly handler: HostedHandlerId;
  readonly returnResponse: boolean;
  readonly bucket: TokenBucket | 'closed' | undefined;
}

type HandshakeOutcome =
  | { readonly ok: true; readonly authorizer: AuthorizerContext; readonly protocol?: string }
  | { readonly ok: false; readonly status: number };

/** Swallows a socket's errors until ws owns it; one function for every socket. */
function ignoreError(): void {}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * API Gateway gave up on the integration: the function had not answered within the integration
 * timeout (29 s). A function cut by its own, shorter timeout is a function error instead.
 */
export class IntegrationTimeoutError extends Error {
  override readonly name = 'IntegrationTimeoutError';
  readonly code = 'integration_timeout';
}

function responseHeader(result: unknown, name: string): string | undefined {
  const headers = (result as { headers?: Record<string, unknown> } | undefined)?.headers;
  if (typeof headers !== 'object' || headers === null) return undefined;
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : headers[key];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Emulates one stage of an API Gateway WebSocket API over `ws`.
 *
 * @example
 * const emulator = new WebSocketEmulator({ functions, stage: 'local', port, logger });
 * server.on('upgrade', (req, socket, head) => emulator.handleUpgrade(req, socket, head));
 */
export class WebSocketEmulator {
  /** Fault switches; flip them in tests, put them back afterwards. */
  readonly faults = new EmulatorFaults();
  readonly stage: string;
  readonly apiId: string;
  readonly #functions: LocalFunctions;
  readonly #wss: WebSocketServer;
  readonly #open = new Map<string, Connection>();
  readonly #protocols = new WeakMap<IncomingMessage, string>();
  readonly #pendingDisconnects = new Set<Promise<void>>();
  readonly #port: number;
  readonly #region: string;
  readonly #accountId: string;
  readonly #integrationTimeoutMs: number;
  readonly #meters: FrameMeters;
  readonly #identityQueryParam: string;
  readonly #routes: ReadonlyMap<string, ServedRoute>;
  readonly #routeKeys: ReadonlySet<string>;
  readonly #routeSelectionExpression: string;
  readonly #authorizer: HostedHandlerId | undefined;
  readonly #maxBufferedBytes: number;
  readonly #maxFrameBytes: number;
  readonly #logger: Logger;
  /** Integration failures, one line per kind and window: a flooding client's refused frames are not as many lines. */
  readonly #failures: RepeatLimiter;
  #bucket: TokenBucket | undefined;
  #droppedDisconnects = 0;
  #throttledRequests = 0;
  #refusedFrames = 0;
  #longestHoldMs = 0;
  /** The last hold of each connection ever held back, kept while the connection is. */
  readonly #holds = new WeakMap<Connection, Hold>();
  #peakBufferedBytes = 0;
  #closing = false;
  #socketless: SocketlessConnections | undefined;
  /** Limits and listeners every connection shares, so none holds a timer or closures of its own. */
  readonly #limits: ConnectionLimits;
  readonly #sweeper: NodeJS.Timeout;
  readonly #sweepEveryMs: number;
  /** When the last sweep ran (`Date.now()`). */
  #sweptAt: number;
  readonly #owners = new WeakMap<WebSocket, Connection>();
  readonly #bySocket = new WeakMap<Duplex, Connection>();
  readonly #listeners: {
    message(this: WebSocket, data: Buffer, isBinary: boolean): void;
    error(this: WebSocket, error: Error & { code?: string }): void;
    close(this: WebSocket, code: number, reason: Buffer): void;
  };

  constructor(options: WebSocketEmulatorOptions) {
    this.#functions = options.functions;
    this.stage = options.stage;
    this.apiId = options.apiId ?? 'localpush0';
    this.#port = options.port;
    this.#region = options.region ?? 'us-east-1';
    this.#accountId = options.accountId ?? '000000000000';
    this.#integrationTimeoutMs = options.integrationTimeoutMs ?? QUOTAS.integrationTimeoutSeconds * 1000;
    this.#maxFrameBytes = options.maxFrameBytes ?? QUOTAS.maxFrameBytes;
    this.#meters = new FrameMeters(this.#maxFrameBytes, (socket) => {
      const connection = this.#bySocket.get(socket);
      if (connection !== undefined) this.#serverClose(connection, CLOSE.tooBig);
    });
    this.#maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES;
    // Each route has a bucket of its own: its own throttle, else the stage's default route
    // settings, which API Gateway applies to every route separately.
    this.#routes = new Map(
      options.routes.map((route) => [
        route.routeKey,
        {
          handler: hosted(route.handler, route.routeKey),
          returnResponse: route.returnResponse,
          bucket: bucketFor(route.throttle?.rateLimit === undefined ? options.stageThrottle : route.throttle),
        },
      ]),
    );
    this.#routeKeys = new Set(this.#routes.keys());
    this.#routeSelectionExpression = options.routeSelectionExpression ?? ROUTE_SELECTION_EXPRESSION;
    const connectRoute = options.routes.find((route) => route.routeKey === ROUTES.connect);
    this.#authorizer =
      connectRoute?.authorizer === undefined
        ? undefined
        : hosted(connectRoute.authorizer.handler, ROUTES.connect);
    const identity = connectRoute?.authorizer?.identitySource[0]?.match(
      /^route\.request\.querystring\.(.+)$/,
    );
    this.#identityQueryParam = options.identityQueryParam ?? identity?.[1] ?? TOKEN_QUERY_PARAM;
    this.#logger = options.logger;
    this.#failures = new RepeatLimiter((message, fields) => this.#logger.warn(message, fields));
    this.#limits = {
      idleTimeoutMs: options.idleTimeoutMs ?? QUOTAS.idleTimeoutSeconds * 1000,
      maxConnectionMs: options.maxConnectionMs ?? QUOTAS.maxConnectionSeconds * 1000,
    };
    this.#sweepEveryMs = sweepIntervalMs(this.#limits);
    this.#sweptAt = Date.now();
    this.#sweeper = setInterval(() => this.#sweep(), this.#sweepEveryMs).unref();
    const emulator = this;
    const owners = this.#owners;
    this.#listeners = {
      message(data, isBinary) {
        const connection = owners.get(this);
        if (connection !== undefined) emulator.#onMessage(connection, data, isBinary);
      },
      error(error) {
        // A frame ws could not accept: ws already closes with the matching code (1009 past
        // maxPayload, 1007 for bad UTF-8); remember it for $disconnect.
        const connection = owners.get(this);
        if (connection === undefined || !error.code?.startsWith('WS_ERR_')) return;
        const code = closeCodeForReadError(error.code);
        connection.closeCause ??= { code, reason: disconnectReason(code) };
        connection.state = 'closing';
      },
      close(code, reason) {
        const connection = owners.get(this);
        if (connection !== undefined) emulator.#onClose(connection, code, reason.toString('utf8'));
      },
    };
    this.#wss = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      // API Gateway negotiates no extensions; compression would also hide real frame sizes.
      perMessageDeflate: false,
      maxPayload: options.maxMessageBytes ?? QUOTAS.maxMessageBytes,
      // A subprotocol is only accepted when $connect returned it in Sec-WebSocket-Protocol, as in AWS.
      handleProtocols: (protocols, req) => {
        const chosen = this.#protocols.get(req);
        return chosen !== undefined && protocols.has(chosen) ? chosen : false;
      },
    });
  }

  /** Counters for tests and logs. */
  get stats(): EmulatorStats {
    return {
      openConnections: this.#open.size,
      droppedDisconnects: this.#droppedDisconnects,
      throttledRequests: this.#throttledRequests,
      refusedFrames: this.#refusedFrames,
      longestHoldMs: this.#longestHoldMs,
      peakBufferedBytes: this.#peakBufferedBytes,
      maxBufferedBytes: this.#maxBufferedBytes,
    };
  }

  /** Plugs in connections that have no socket (one set at a time; a second call replaces it). */
  attachSocketless(connections: SocketlessConnections): void {
    this.#socketless = connections;
  }

  /** Ids of the open connections. */
  connectionIds(): string[] {
    return [...this.#open.keys()];
  }

  /** Handles an HTTP upgrade request on the stage path. Never rejects. */
  async handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // Until ws owns the socket nobody listens for errors; a client reset must not crash the stack.
    socket.on('error', ignoreError);
    try {
      await this.#upgrade(req, socket, head);
    } catch (error) {
      this.#logger.error('handshake failed unexpectedly', { error: errorMessage(error) });
      refuseHandshake(socket, 500);
    }
  }

  async #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    // API Gateway's front door refuses a URL over its length quota before any route or authorizer
    // runs. Counted as a client writes it for AWS, `wss://` and host included (AWS's host is some
    // 30 characters longer than 127.0.0.1:3000, which a URL this close to the limit must allow for).
    if (`wss://${req.headers.host ?? ''}${req.url ?? '/'}`.length > QUOTAS.maxUrlChars) {
      return refuseHandshake(socket, 414);
    }
    // Not `new URL(req.url, base)`: a target starting `//` would name a host, or throw.
    const url = requestUrl(req.url);
    if (url?.pathname.replace(/\/+$/, '') !== `/${this.stage}`) return refuseHandshake(socket, 403);
    if (!isWebSocketUpgrade(req)) return refuseHandshake(socket, 400);
    if (this.#closing) return refuseHandshake(socket, 503);

    // One literal with every field (userAgent possibly undefined): a conditional spread would
    // build each connection's identity as a slower, larger dictionary-backed object.
    const identity: ConnectionIdentity = {
      connectionId: gatewayId(),
      connectedAt: Date.now(),
      domainName: req.headers.host ?? `127.0.0.1:${this.#port}`,
      stage: this.stage,
      apiId: this.apiId,
      sourceIp: peerAddress(req.socket.remoteAddress),
      userAgent: req.headers['user-agent'],
    };
    const outcome = await this.#connect(identity, req, url.searchParams);

    if (!outcome.ok) {
      this.#logger.info('handshake refused', { status: outcome.status, connectionId: identity.connectionId });
      return refuseHandshake(socket, outcome.status);
    }
    const gone = !socket.readable || !socket.writable;
    if (gone || this.#closing) {
      // $connect stored the connection, but the client left (or the stack is stopping) before the
      // upgrade completed: API Gateway would run $disconnect for it.
      if (!gone) refuseHandshake(socket, 503);
      else socket.destroy();
      this.#runDisconnect(identity, outcome.authorizer, {
        code: CLOSE.abnormal,
        reason: disconnectReason(CLOSE.abnormal),
      });
      return;
    }
    if (outcome.protocol !== undefined) this.#protocols.set(req, outcome.protocol);
    // Without verifyClient, ws completes (or aborts) the upgrade synchronously.
    let opened = false;
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      opened = true;
      this.#opened(ws, socket, identity, outcome.authorizer);
    });
    if (!opened) {
      // ws refused a header our pre-check let through (a malformed subprotocol list, say), after
      // $connect had stored the connection: clean up as API Gateway would after a failed open.
      this.#runDisconnect(identity, outcome.authorizer, {
        code: CLOSE.abnormal,
        reason: disconnectReason(CLOSE.abnormal),
      });
    }
  }

  /** The authorizer, then `$connect`. Nothing is stored unless both succeed. */
  async #connect(
    identity: ConnectionIdentity,
    req: IncomingMessage,
    search: URLSearchParams,
  ): Promise<HandshakeOutcome> {
    const connectRoute = this.#routes.get(ROUTES.connect);
    if (connectRoute !== undefined && !this.#admit(connectRoute)) return { ok: false, status: 429 };
    // A missing identity source is refused before the authorizer runs, as API Gateway does. A
    // parameter given twice is read as the events carry it (`queryStringParameters`): its last value.
    const token = search.getAll(this.#identityQueryParam).at(-1) ?? null;
    if (this.#authorizer !== undefined && (token === null || token === '')) return { ok: false, status: 401 };

    const headers = requestHeaders(req, identity.sourceIp, this.#port);
    const methodArn = connectMethodArn(identity, this.#region, this.#accountId);
    const started = performance.now();
    let authorizer: AuthorizerContext = {};
    if (this.#authorizer !== undefined) {
      let result: unknown;
      try {
        result = await this.#integrate(
          this.#authorizer,
          authorizerEvent(identity, methodArn, headers, search, Date.now()),
        );
      } catch (error) {
        // Only an error whose message is exactly "Unauthorized" means 401; anything else is a 500.
        if (error instanceof Error && error.message === 'Unauthorized') return { ok: false, status: 401 };
        this.#failures.note('authorizer failed', {
          connectionId: identity.connectionId,
          error: errorMessage(error),
        });
        return { ok: false, status: error instanceof IntegrationTimeoutError ? 504 : 500 };
      }
      const decision = evaluateAuthorizerResult(result, methodArn, Math.round(performance.now() - started));
      if (decision.kind === 'deny') return { ok: false, status: 403 };
      if (decision.kind === 'invalid') {
        this.#logger.warn('authorizer answer rejected (AuthorizerConfigurationException)', {
          connectionId: identity.connectionId,
          reason: decision.reason,
        });
        return { ok: false, status: 500 };
      }
      authorizer = decision.context;
    }
    if (connectRoute === undefined) return { ok: true, authorizer };

    let connected: unknown;
    try {
      connected = await this.#integrate(
        connectRoute.handler,
        connectEvent(identity, authorizer, headers, search, Date.now()),
      );
    } catch (error) {
      this.#failures.note('$connect failed', {
        connectionId: identity.connectionId,
        error: errorMessage(error),
      });
      return { ok: false, status: error instanceof IntegrationTimeoutError ? 504 : 500 };
    }
    // A non-2xx statusCode from $connect refuses the handshake with that very status.
    const status = (connected as WebSocketResult | undefined)?.statusCode;
    if (typeof status === 'number' && (status < 200 || status > 299)) return { ok: false, status };
    const protocol = responseHeader(connected, 'sec-websocket-protocol');
    return { ok: true, authorizer, ...(protocol === undefined ? {} : { protocol }) };
  }

  /** Takes a token from the route's throttle; false (and counted) when the request is throttled. */
  #admit(route: ServedRoute): boolean {
    if (route.bucket === undefined) return true;
    if (route.bucket !== 'closed' && route.bucket.take()) return true;
    this.#throttledRequests++;
    return false;
  }

  /**
   * Calls a route's function as the Lambda integration does: synchronously, so a function out of
   * concurrency fails at once, and for at most the integration timeout. A function error, a
   * throttle and a function cut by its own timeout all reject with the function's error; only the
   * integration timeout rejects with {@link IntegrationTimeoutError}.
   */
  async #integrate(handler: HostedHandlerId, event: unknown): Promise<unknown> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new IntegrationTimeoutError(`${handler} did not answer within ${this.#integrationTimeoutMs} ms`),
          ),
        this.#integrationTimeoutMs,
      );
    });
    try {
      return await Promise.race([this.#functions.invoke(handler, event), gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  #opened(ws: WebSocket, socket: Duplex, identity: ConnectionIdentity, authorizer: AuthorizerContext): void {
    const connection = new Connection(ws, socket, identity, authorizer);
    this.#open.set(connection.id, connection);
    this.#owners.set(ws, connection);
    // ws listens for the socket's errors from here on.
    socket.removeListener('error', ignoreError);
    this.#logger.info('connection opened', { connectionId: connection.id, uid: authorizer.principalId });
    this.#bySocket.set(socket, connection);
    this.#meters.watch(socket);
    ws.on('message', this.#listeners.message);
    ws.on('error', this.#listeners.error);
    ws.on('close', this.#listeners.close);
  }

  #onMessage(connection: Connection, data: Buffer, isBinary: boolean): void {
    if (connection.state !== 'open') return;
    connection.touch();
    if (isBinary) {
      this.#serverClose(connection, CLOSE.unsupportedData);
      return;
    }
    if (this.#holds.get(connection)?.holding === true) {
      // Read while the connection is held back: ws emits every frame of a chunk it has read, even
      // after the socket is paused. Each is refused as the throttled one was, in a frame of its
      // own and in the order read; what these answers may cost is bounded by the connection's
      // own unsent bytes, as every frame to it is (#send).
      this.#throttledRequests++;
      this.#send(connection, tooManyRequests(connection.id));
      return;
    }
    const body = data.toString('utf8');
    const routeKey = selectRoute(body, this.#routeKeys, this.#routeSelectionExpression);
    const route = routeKey === undefined ? undefined : this.#routes.get(routeKey);
    if (routeKey === undefined || route === undefined) {
      this.#reply(connection, { message: 'Forbidden', connectionId: connection.id, requestId: gatewayId() });
      return;
    }
    if (!this.#admit(route)) {
      // The request never reaches the integration; the client is told in a frame of its own.
      this.#send(connection, tooManyRequests(connection.id));
      this.#holdBack(connection);
      return;
    }
    const event = messageEvent(connection.identity, connection.authorizer, routeKey, body, Date.now());
    this.#integrate(route.handler, event).then(
      (result) => {
        if (!route.returnResponse || result === undefined || result === null) return;
        const reply = (result as WebSocketResult).body;
        if (reply === undefined) return;
        if (typeof reply !== 'string') {
          this.#logger.warn('route returned a non-string body (Lambda proxy responses need a string)', {
            routeKey,
          });
          this.#reply(connection, {
            message: 'Internal server error',
            connectionId: connection.id,
            requestId: event.requestContext.requestId,
          });
          return;
        }
        this.#send(connection, reply);
      },
      (error: unknown) => {
        // API Gateway tells the client, in a frame of its own, that the integration failed: a
        // function error (its own timeout and a throttle included) is an internal server error.
        const timedOut = error instanceof IntegrationTimeoutError;
        this.#failures.note(`${routeKey} failed`, {
          connectionId: connection.id,
          error: errorMessage(error),
        });
        this.#reply(connection, {
          message: timedOut ? 'Endpoint request timed out' : 'Internal server error',
          connectionId: connection.id,
          requestId: event.requestContext.requestId,
        });
      },
    );
  }

  #reply(connection: Connection, frame: Record<string, string>): void {
    this.#send(connection, JSON.stringify(frame));
  }

  /**
   * Sends one message; false when the connection already holds `maxBufferedBytes` unsent. A
   * message over the frame limit leaves in fragments of at most `maxFrameBytes`, as API Gateway
   * splits what it sends (`@connections` posts included) into frames of 32 KB or less.
   */
  #send(connection: Connection, data: string | Buffer, binary = false): boolean {
    if (connection.state !== 'open') return true;
    const buffered = connection.ws.bufferedAmount;
    if (buffered > this.#peakBufferedBytes) this.#peakBufferedBytes = buffered;
    if (buffered >= this.#maxBufferedBytes) {
      this.#refusedFrames++;
      this.#holdBack(connection);
      return false;
    }
    connection.touch();
    const max = this.#maxFrameBytes;
    if ((typeof data === 'string' ? Buffer.byteLength(data) : data.length) <= max) {
      connection.ws.send(data, { binary });
      return true;
    }
    // Fragments may split a UTF-8 character: the client validates the reassembled message.
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    for (let at = 0; at < bytes.length; at += max) {
      connection.ws.send(bytes.subarray(at, at + max), { binary, fin: at + max >= bytes.length });
    }
    return true;
  }

  /**
   * Stops reading the connection's socket, once at a time, for as long as {@link nextHoldMs} says:
   * longer each time for a client that keeps sending faster than it is let through.
   */
  #holdBack(connection: Connection): void {
    const last = this.#holds.get(connection);
    if (last?.holding === true || connection.state !== 'open') return;
    const now = performance.now();
    const ms = nextHoldMs(last, now);
    if (ms > this.#longestHoldMs) this.#longestHoldMs = ms;
    const hold: Hold = { ms, endsAt: now + ms, holding: true };
    this.#holds.set(connection, hold);
    connection.ws.pause();
    // ws goes on emitting the frames it read with this chunk, synchronously, and each is answered
    // (#onMessage): corked until the chunk is done, those answers leave in one write instead of
    // one each, and count against the connection's unsent bytes as they are queued.
    connection.socket.cork();
    process.nextTick(uncork, connection.socket);
    setTimeout(() => {
      hold.holding = false;
      hold.endsAt = performance.now();
      connection.ws.resume();
    }, ms);
  }

  /**
   * Closes (1001) every open connection past its idle timeout or maximum age, as of the latest
   * time the emulator can vouch for: at most two sweep intervals after the last sweep. A process
   * held up longer (a loaded machine) has not read the frames that came meanwhile, which still
   * wait in the sockets; counting that time as the clients' silence would close clients that
   * spoke in time, where API Gateway, reading on machines of its own, would have had their frames.
   * The next sweep comes after the event loop has read them.
   */
  #sweep(): void {
    const now = Date.now();
    const vouched = Math.min(now, this.#sweptAt + 2 * this.#sweepEveryMs);
    this.#sweptAt = now;
    if (this.#closing) return;
    for (const connection of this.#open.values()) {
      if (connection.expired(vouched, this.#limits)) this.#serverClose(connection, CLOSE.goingAway);
    }
  }

  /** Starts a server-side close; `$disconnect` will report `code`. */
  #serverClose(connection: Connection, code: number): void {
    if (connection.state !== 'open') return;
    // The client's closing frame must be read.
    connection.ws.resume();
    connection.state = 'closing';
    connection.closeCause = { code, reason: disconnectReason(code) };
    connection.ws.close(code);
  }

  #onClose(connection: Connection, code: number, peerReason: string): void {
    connection.markClosed();
    this.#open.delete(connection.id);
    const cause = connection.closeCause ?? { code, reason: disconnectReason(code, peerReason) };
    this.#logger.info('connection closed', {
      connectionId: connection.id,
      code: cause.code,
      reason: cause.reason,
    });
    this.#runDisconnect(connection.identity, connection.authorizer, cause);
  }

  /** Invokes `$disconnect`, unless the fault switch drops it. */
  #runDisconnect(
    identity: ConnectionIdentity,
    authorizer: AuthorizerContext | undefined,
    cause: CloseCause,
  ): void {
    if (this.faults.dropDisconnects) {
      this.#droppedDisconnects++;
      this.#logger.info('$disconnect dropped (fault switch)', { connectionId: identity.connectionId });
      return;
    }
    const route = this.#routes.get(ROUTES.disconnect);
    if (route === undefined) return;
    const event = disconnectEvent(identity, authorizer ?? {}, cause.code, cause.reason, Date.now());
    const run: Promise<void> = this.#integrate(route.handler, event)
      .then(
        () => {},
        (error: unknown) => {
          this.#failures.note('$disconnect failed', {
            connectionId: identity.connectionId,
            error: errorMessage(error),
          });
        },
      )
      .finally(() => this.#pendingDisconnects.delete(run));
    this.#pendingDisconnects.add(run);
  }

  /** True when the Management API should answer this request with 429 (the throttle switch). */
  throttled(): boolean {
    const rate = this.faults.managementRateLimit;
    if (rate === undefined) {
      this.#bucket = undefined;
      return false;
    }
    const burst = this.faults.managementBurst ?? rate;
    // A changed switch starts a full bucket, as if the new limit had always been there.
    if (this.#bucket?.ratePerSecond !== rate || this.#bucket.burst !== Math.max(1, burst)) {
      this.#bucket = new TokenBucket(rate, performance.now(), burst);
    }
    return !this.#bucket.take();
  }

  /**
   * PostToConnection: sends `data` as one frame. Valid UTF-8 goes as a text frame (what clients
   * and AWS expect); anything else as a binary frame, so the bytes arrive unaltered instead of the
   * client closing with 1007. `gone` when the id is unknown, closing, or still inside `$connect`
   * (it joins the open set only once `$connect` succeeded, which is why AWS answers 410 there too);
   * `full` when the connection holds `maxBufferedBytes` unsent (AWS's 429 for a full client buffer).
   */
  post(connectionId: string, data: Buffer): 'ok' | 'gone' | 'full' {
    const connection = this.#open.get(connectionId);
    if (connection === undefined) return this.#socketless?.post(connectionId, data) ? 'ok' : 'gone';
    if (connection.state !== 'open') return 'gone';
    return this.#send(connection, data, !isUtf8(data)) ? 'ok' : 'full';
  }

  /** GetConnection; `undefined` when gone. */
  describe(connectionId: string): ConnectionDescription | undefined {
    const connection = this.#open.get(connectionId) ?? this.#socketless?.get(connectionId);
    if (connection === undefined || ('state' in connection && connection.state !== 'open')) return undefined;
    const { connectedAt, sourceIp, userAgent } = connection.identity;
    return {
      connectedAt,
      lastActiveAt: connection.lastActiveAt,
      sourceIp,
      ...(userAgent === undefined ? {} : { userAgent }),
    };
  }

  /** DeleteConnection: closes the socket (1000) and lets `$disconnect` run; false when gone. */
  disconnect(connectionId: string): boolean {
    const connection = this.#open.get(connectionId);
    if (connection === undefined) {
      const socketless = this.#socketless?.remove(connectionId);
      if (socketless === undefined) return false;
      this.#runDisconnect(socketless.identity, socketless.authorizer, {
        code: CLOSE.normal,
        reason: disconnectReason(CLOSE.normal),
      });
      return true;
    }
    if (connection.state !== 'open') return false;
    this.#serverClose(connection, CLOSE.normal);
    return true;
  }

  /**
   * Closes every connection (1001, as when a stage goes away), waits for their `$disconnect`
   * invocations, and refuses new handshakes. Sockets that ignore the close are cut after `graceMs`.
   */
  async close(graceMs = 1_000): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    const connections = [...this.#open.values()];
    for (const connection of connections) this.#serverClose(connection, CLOSE.goingAway);
    await Promise.all(
      connections.map(async (connection) => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([
          connection.closed,
          new Promise<void>((resolve) => {
            timer = setTimeout(() => {
              connection.ws.terminate();
              void connection.closed.then(resolve);
            }, graceMs);
          }),
        ]);
        clearTimeout(timer);
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#pendingDisconnects]),
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, 5_000);
      }),
    ]);
    clearTimeout(timer);
    this.#wss.close();
  }
}
