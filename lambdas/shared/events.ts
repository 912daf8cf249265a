/**
 * The WebSocket event shapes API Gateway sends to Lambda, as this project relies on them.
 * The local emulator builds exactly these; `@types/aws-lambda` lacks `identity`, `authorizer`
 * and the `$disconnect` fields, so they are spelled out here.
 */

/** Authorizer context as API Gateway passes it on: values are strings, numbers or booleans. */
export type AuthorizerContext = Record<string, string | number | boolean | null | undefined> & {
  principalId?: string;
};

/** `requestContext` of a WebSocket event. */
export interface WebSocketRequestContext {
  routeKey: string;
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
  messageId?: string;
  extendedRequestId?: string;
  requestTime?: string;
  messageDirection: 'IN';
  stage: string;
  connectedAt: number;
  requestTimeEpoch: number;
  requestId: string;
  domainName: string;
  connectionId: string;
  apiId: string;
  identity: { sourceIp: string; userAgent?: string };
  authorizer?: AuthorizerContext;
  disconnectStatusCode?: number;
  disconnectReason?: string;
}

/** A `$connect`, `$disconnect` or message event. */
export interface WebSocketEvent {
  requestContext: WebSocketRequestContext;
  body?: string;
  isBase64Encoded: boolean;
  headers?: Record<string, string | undefined>;
  multiValueHeaders?: Record<string, string[] | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
  multiValueQueryStringParameters?: Record<string, string[] | undefined>;
}

/** What a WebSocket route integration returns; `body` reaches the client when a route response is set. */
export interface WebSocketResult {
  statusCode: number;
  body?: string;
}

/** The REQUEST authorizer event on `$connect`. */
export interface WebSocketAuthorizerEvent {
  type: 'REQUEST';
  methodArn: string;
  headers?: Record<string, string | undefined>;
  queryStringParameters?: Record<string, string | undefined>;
  requestContext: Partial<WebSocketRequestContext> & { connectionId: string };
}

/** The authorizer's answer: an IAM policy plus the context later routes receive. */
export interface AuthorizerResult {
  principalId: string;
  policyDocument: {
    Version: '2012-10-17';
    Statement: { Action: 'execute-api:Invoke'; Effect: 'Allow' | 'Deny'; Resource: string }[];
  };
  context: Record<string, string | number | boolean>;
}
