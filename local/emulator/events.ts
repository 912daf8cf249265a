/**
 * Builds the events API Gateway sends to a WebSocket API's integrations, in the shapes of
 * `lambdas/shared/events.ts`. Pure: everything that varies (ids, clock) comes in as arguments.
 */
import type { IncomingMessage } from 'node:http';
import type {
  AuthorizerContext,
  WebSocketAuthorizerEvent,
  WebSocketEvent,
  WebSocketRequestContext,
} from '../../lambdas/shared/events';
import { ROUTES } from '../../lambdas/shared/protocol';
import { gatewayId, requestTime } from './ids';

/** What stays the same for every event of one connection. */
export interface ConnectionIdentity {
  readonly connectionId: string;
  readonly connectedAt: number;
  /** The Host the client connected to (`127.0.0.1:3000`), as AWS uses the API's domain. */
  readonly domainName: string;
  readonly stage: string;
  readonly apiId: string;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

/** Headers of the upgrade request, single- and multi-valued, with the names as the client sent them. */
export interface RequestHeaders {
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
}

/** The peer address without the IPv4-mapped prefix (`::ffff:127.0.0.1` → `127.0.0.1`). */
export function peerAddress(address: string | undefined): string {
  if (address === undefined) return '';
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

/**
 * The upgrade request's headers, plus the `X-Forwarded-*` headers API Gateway's front end adds:
 * a client's own `X-Forwarded-For` gets the peer address appended, as a proxy does, so the last
 * entry is always the one API Gateway saw. Names keep the client's casing, as in AWS's events.
 */
export function requestHeaders(req: IncomingMessage, sourceIp: string, port: number): RequestHeaders {
  // By lower-cased name, in Maps: a client may name a header `constructor`, `toString` or
  // `__proto__`, which a plain object answers from its prototype (and a lookup per header was
  // quadratic in the count of headers).
  const byName = new Map<string, { readonly name: string; readonly values: string[] }>();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i] as string;
    const value = req.rawHeaders[i + 1] as string;
    const sent = byName.get(name.toLowerCase());
    if (sent === undefined) byName.set(name.toLowerCase(), { name, values: [value] });
    else sent.values.push(value);
  }
  const forwarded = {
    'X-Forwarded-For': sourceIp,
    'X-Forwarded-Port': String(port),
    'X-Forwarded-Proto': 'http',
  };
  for (const [name, value] of Object.entries(forwarded)) {
    const sent = byName.get(name.toLowerCase());
    if (sent === undefined) byName.set(name.toLowerCase(), { name, values: [value] });
    else if (name === 'X-Forwarded-For') {
      const { values } = sent;
      values[values.length - 1] = `${values.at(-1)}, ${sourceIp}`;
    }
  }
  // fromEntries defines every name as an own property, `__proto__` included.
  const entries = [...byName.values()];
  return {
    headers: Object.fromEntries(entries.map(({ name, values }) => [name, values.join(',')])),
    multiValueHeaders: Object.fromEntries(entries.map(({ name, values }) => [name, values])),
  };
}

/** Query parameters in API Gateway's two shapes; both absent when there are none. */
export function queryParameters(
  search: URLSearchParams,
): Pick<WebSocketEvent, 'queryStringParameters' | 'multiValueQueryStringParameters'> {
  // A Map for the same reason as the headers: `?constructor=1` is a parameter like any other.
  const multi = new Map<string, string[]>();
  for (const [name, value] of search) {
    const values = multi.get(name);
    if (values === undefined) multi.set(name, [value]);
    else values.push(value);
  }
  if (multi.size === 0) return {};
  const single = Object.fromEntries([...multi].map(([name, values]) => [name, values.at(-1) as string]));
  return { queryStringParameters: single, multiValueQueryStringParameters: Object.fromEntries(multi) };
}

function baseContext(
  identity: ConnectionIdentity,
  routeKey: string,
  eventType: WebSocketRequestContext['eventType'],
  now: number,
): WebSocketRequestContext {
  // API Gateway gives a WebSocket event one id, under both names.
  const requestId = gatewayId();
  return {
    routeKey,
    eventType,
    extendedRequestId: requestId,
    requestTime: requestTime(now),
    messageDirection: 'IN',
    stage: identity.stage,
    connectedAt: identity.connectedAt,
    requestTimeEpoch: now,
    identity: {
      sourceIp: identity.sourceIp,
      ...(identity.userAgent === undefined ? {} : { userAgent: identity.userAgent }),
    },
    requestId,
    domainName: identity.domainName,
    connectionId: identity.connectionId,
    apiId: identity.apiId,
  };
}

/** The `execute-api` ARN of the `$connect` route, which an authorizer's policy must allow. */
export function connectMethodArn(identity: ConnectionIdentity, region: string, accountId: string): string {
  return `arn:aws:execute-api:${region}:${accountId}:${identity.apiId}/${identity.stage}/${ROUTES.connect}`;
}

/** The REQUEST authorizer's event. */
export function authorizerEvent(
  identity: ConnectionIdentity,
  methodArn: string,
  headers: RequestHeaders,
  search: URLSearchParams,
  now: number,
): WebSocketAuthorizerEvent & Record<string, unknown> {
  return {
    type: 'REQUEST',
    methodArn,
    headers: headers.headers,
    multiValueHeaders: headers.multiValueHeaders,
    ...queryParameters(search),
    stageVariables: {},
    requestContext: baseContext(identity, ROUTES.connect, 'CONNECT', now),
  };
}

/** The `$connect` event: the upgrade request, and the authorizer's context. */
export function connectEvent(
  identity: ConnectionIdentity,
  authorizer: AuthorizerContext,
  headers: RequestHeaders,
  search: URLSearchParams,
  now: number,
): WebSocketEvent {
  return {
    headers: headers.headers,
    multiValueHeaders: headers.multiValueHeaders,
    ...queryParameters(search),
    requestContext: { ...baseContext(identity, ROUTES.connect, 'CONNECT', now), authorizer },
    isBase64Encoded: false,
  };
}

/** A message event: one client frame (text only; binary frames never reach a route). */
export function messageEvent(
  identity: ConnectionIdentity,
  authorizer: AuthorizerContext,
  routeKey: string,
  body: string,
  now: number,
): WebSocketEvent {
  return {
    requestContext: {
      ...baseContext(identity, routeKey, 'MESSAGE', now),
      messageId: gatewayId(),
      authorizer,
    },
    body,
    isBase64Encoded: false,
  };
}

/** The `$disconnect` event, with the close's status code and reason. */
export function disconnectEvent(
  identity: ConnectionIdentity,
  authorizer: AuthorizerContext,
  statusCode: number,
  reason: string,
  now: number,
): WebSocketEvent {
  // AWS sends these four headers on $disconnect, most of them empty.
  const headers = { Host: identity.domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' };
  return {
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    requestContext: {
      ...baseContext(identity, ROUTES.disconnect, 'DISCONNECT', now),
      disconnectStatusCode: statusCode,
      disconnectReason: reason,
      authorizer,
    },
    isBase64Encoded: false,
  };
}
