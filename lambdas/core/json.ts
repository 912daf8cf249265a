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
  try {
    return JSON.parse(input);
  } catch {
    throw new BadRequestError('body is not valid JSON');
  }
}
