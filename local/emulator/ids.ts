import { randomBytes } from 'node:crypto';

/**
 * An id shaped like API Gateway's connection, request and message ids (`L0SM9cOFvHcCIhw=`):
 * 16 characters ending in `=`. The `=` (and the occasional `-` or `_`) is kept on purpose, so
 * code that forgets to URL-encode an id in a `@connections` path fails locally too.
 */
export function gatewayId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `requestContext.requestTime` as API Gateway writes it: `22/Nov/2026:00:59:12 +0000`. */
export function requestTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number) => String(n).padStart(2, '0');
  return (
    `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}
