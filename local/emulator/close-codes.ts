/**
 * WebSocket close codes the emulator uses, and the `disconnectReason` text a `$disconnect`
 * event carries for each. AWS's wording is copied where it has been observed in API Gateway
 * execution logs (1000, 1001, 1005); the rest follow RFC 6455's names.
 */
export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  noStatus: 1005,
  abnormal: 1006,
  invalidPayload: 1007,
  tooBig: 1009,
} as const;

const REASONS: Readonly<Record<number, string>> = {
  [CLOSE.normal]: 'Connection Closed Normally',
  [CLOSE.goingAway]: 'Going away',
  [CLOSE.protocolError]: 'Protocol error',
  [CLOSE.unsupportedData]: 'Unsupported data',
  [CLOSE.noStatus]: 'Client-side close frame status not set',
  [CLOSE.abnormal]: 'Connection closed abnormally',
  [CLOSE.invalidPayload]: 'Invalid frame payload data',
  [CLOSE.tooBig]: 'Message too big',
};

/** The `disconnectReason` for a close: the peer's own reason when it gave one, else the standard text. */
export function disconnectReason(code: number, peerReason = ''): string {
  if (peerReason !== '') return peerReason;
  return REASONS[code] ?? `Closed with status ${code}`;
}

/** The close code matching an error `ws` raised while reading a client's frames. */
export function closeCodeForReadError(code: string | undefined): number {
  switch (code) {
    case 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH':
      return CLOSE.tooBig;
    case 'WS_ERR_INVALID_UTF8':
      return CLOSE.invalidPayload;
    default:
      return CLOSE.protocolError;
  }
}
