import { BadRequestError, PayloadTooLargeError } from '../shared/errors';
import { QUOTAS } from '../shared/quotas';

/**
 * A field name a caller sent, as an error message names it: bare when it is a plain name (`user`),
 * else as a JSON string of its first 64 code units, so that no message (and no log line made from
 * one) carries a caller's line breaks or control characters unquoted.
 *
 * @example
 * fieldName('user') // 'user'
 * fieldName('x\ny') // '"x\\ny"'
 */
export function fieldName(key: string): string {
  return /^[\w$-]{1,64}$/.test(key) ? key : JSON.stringify(key.slice(0, 64));
}

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

/**
 * True when `value` nests arrays and objects more than `maxDepth` levels deep (`[]` and `{}` are
 * one level; a scalar is none). Walks with its own stack, so no depth of input can overflow the call
 * stack here; it stops at the first container past the bound, so a cyclic value ends too. Checked
 * before serializing: `JSON.stringify` recurses and throws a `RangeError` on very deep values.
 *
 * @example
 * nestsDeeperThan({ a: [[1]] }, 2) // true
 */
export function nestsDeeperThan(value: unknown, maxDepth: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const stack: { node: object; depth: number }[] = [{ node: value, depth: 1 }];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.depth > maxDepth) return true;
    const children = Array.isArray(top.node) ? top.node : Object.values(top.node);
    for (const child of children) {
      if (typeof child === 'object' && child !== null) stack.push({ node: child, depth: top.depth + 1 });
    }
  }
  return false;
}

/**
 * True when `value` holds a number JSON cannot carry: text such as `1e400` parses to `Infinity`,
 * which serializes as `null`, so the message would arrive changed. Walks with its own stack; call
 * it on a value already known to nest within bounds (see {@link nestsDeeperThan}).
 *
 * @example
 * holdsNonFiniteNumber(JSON.parse('{"a":[1e400]}')) // true
 */
export function holdsNonFiniteNumber(value: unknown): boolean {
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const node = stack.pop();
    if (typeof node === 'number') {
      if (!Number.isFinite(node)) return true;
    } else if (typeof node === 'object' && node !== null) {
      for (const child of Array.isArray(node) ? node : Object.values(node)) stack.push(child);
    }
  }
  return false;
}
