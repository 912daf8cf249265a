import { BadRequestError, PayloadTooLargeError } from '../shared/errors';
import { QUOTAS } from '../shared/quotas';

/** True for a JSON object: not null, not an array. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A body as the publish entry points receive it: an already parsed value (direct invoke), or JSON
 * text (SNS, HTTP). Text over {@link QUOTAS.maxPublishBodyBytes} or not JSON is refused.
 */
export function parseJsonBody(input: unknown): unknown {
  if (typeof input !== 'string') return input;
  if (Buffer.byteLength(input, 'utf8') > QUOTAS.maxPublishBodyBytes) {
    throw new PayloadTooLargeError(`body exceeds ${QUOTAS.maxPublishBodyBytes} bytes`);
  }
  return parseJsonText(input, 'body');
}

/** Parses JSON text, refusing text that is not JSON with `<what> is not valid JSON`. */
export function parseJsonText(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new BadRequestError(`${what} is not valid JSON`);
  }
}
