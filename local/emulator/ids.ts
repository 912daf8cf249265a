import { randomFillSync } from 'node:crypto';

/** Random bytes per id: 11 bytes are 15 base64url characters. */
const ID_BYTES = 11;
/**
 * Random bytes drawn at once for the next 512 ids. Each draw from the system's generator costs
 * about as much as answering a frame, and a flooding client is answered thousands of times a
 * second, each answer with a fresh request id.
 */
const pool = Buffer.alloc(ID_BYTES * 512);
let next = pool.length;

/**
 * An id shaped like API Gateway's connection, request and message ids (`L0SM9cOFvHcCIhw=`):
 * 16 characters ending in `=`. The `=` (and the occasional `-` or `_`) is kept on purpose, so
 * code that forgets to URL-encode an id in a `@connections` path fails locally too.
 */
export function gatewayId(): string {
  if (next === pool.length) {
    randomFillSync(pool);
    next = 0;
  }
  const id = pool.toString('base64url', next, next + ID_BYTES);
  next += ID_BYTES;
  return `${id}=`;
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
