/**
 * The HTTP side of a WebSocket handshake that API Gateway refuses: the request is answered with a
 * plain HTTP response and the socket closed, so the client sees the status code (401, 403, 500).
 */
import { type IncomingMessage, STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

/** The error body and type API Gateway answers a refused handshake with. */
const BODIES: Readonly<Record<number, { message: string; errorType?: string }>> = {
  400: { message: 'Bad Request', errorType: 'BadRequestException' },
  401: { message: 'Unauthorized', errorType: 'UnauthorizedException' },
  403: { message: 'Forbidden', errorType: 'ForbiddenException' },
  429: { message: 'Too Many Requests', errorType: 'TooManyRequestsException' },
  500: { message: 'Internal server error' },
  503: { message: 'Service Unavailable' },
  504: { message: 'Endpoint request timed out' },
};

/**
 * Answers the upgrade request with `status` and closes the socket; `why` replaces API Gateway's
 * body message, for a refusal of the local stack's own (its origin guard).
 */
export function refuseHandshake(socket: Duplex, status: number, why?: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const known = BODIES[status] ?? { message: STATUS_CODES[status] ?? 'Error' };
  const { message, errorType } = why === undefined ? known : { ...known, message: why };
  const body = JSON.stringify({ message });
  const head = [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    ...(errorType === undefined ? [] : [`x-amzn-ErrorType: ${errorType}`]),
  ];
  socket.once('finish', () => socket.destroy());
  socket.end(`${head.join('\r\n')}\r\n\r\n${body}`);
}

const KEY_PATTERN = /^[+/0-9A-Za-z]{22}==$/;

/**
 * True when the request is a well-formed WebSocket upgrade (RFC 6455 §4.2.1). Checked before the
 * authorizer runs, because `ws` would otherwise refuse it only after `$connect` had stored a record.
 */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  const key = req.headers['sec-websocket-key'];
  const version = req.headers['sec-websocket-version'];
  return (
    req.method === 'GET' &&
    req.headers.upgrade?.toLowerCase() === 'websocket' &&
    typeof key === 'string' &&
    KEY_PATTERN.test(key.trim()) &&
    (version === '8' || version === '13')
  );
}
