import { BadRequestError, PayloadTooLargeError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { ID_PATTERN, ID_RULE, UID_RULE } from '../shared/protocol';
import { fieldName, holdsNonFiniteNumber, isPlainObject, nestsDeeperThan, parseJsonBody } from './json';
import { isValidTopic } from './topics';
import { isValidUid } from './uid';

/** Whom a publish reaches. */
export type PublishTarget =
  | { readonly uid: string }
  | { readonly uids: readonly string[] }
  | { readonly topic: string }
  | { readonly all: true };

/** A validated publish body. */
export interface PublishRequest {
  readonly id: string;
  readonly to: PublishTarget;
  readonly data: unknown;
  /** `data` serialized once, reused for every delivery. */
  readonly dataJson: string;
}

const TOP_LEVEL = new Set(['to', 'data', 'id']);
const TARGET_KEYS = ['uid', 'uids', 'topic', 'all'] as const;

/**
 * Parses a publish body: an object, or JSON text of one. The publish entry points parse the text
 * themselves (parseCommand, once) and hand over the object; text is for callers of this alone.
 * Throws {@link BadRequestError} naming the field, or {@link PayloadTooLargeError}.
 *
 * @example
 * parsePublishRequest({ to: { uid: 'u1' }, data: { orderId: 42 } }, () => 'id-1')
 */
export function parsePublishRequest(
  input: unknown,
  newId: () => string = () => crypto.randomUUID(),
): PublishRequest {
  const body = parseJsonBody(input);
  if (!isPlainObject(body)) throw new BadRequestError('body must be a JSON object');
  for (const key of Object.keys(body)) {
    if (TOP_LEVEL.has(key)) continue;
    // A target written beside `data` instead of inside `to`: say where it goes.
    const target = (TARGET_KEYS as readonly string[]).includes(key)
      ? `; a target goes inside to, as in {"to":{${JSON.stringify(key)}:…},"data":…}`
      : '';
    throw new BadRequestError(`unknown field ${fieldName(key)}${target}`);
  }

  const to = parseTarget(body.to);

  if (!Object.hasOwn(body, 'data') || body.data === undefined) throw new BadRequestError('data is required');
  if (nestsDeeperThan(body.data, LIMITS.maxDataDepth)) {
    throw new BadRequestError(`data nests arrays and objects more than ${LIMITS.maxDataDepth} levels deep`);
  }
  if (holdsNonFiniteNumber(body.data)) {
    throw new BadRequestError(
      'data holds a number too large for JSON (such as 1e400), which would arrive as null',
    );
  }
  const dataJson = JSON.stringify(body.data);
  if (Buffer.byteLength(dataJson, 'utf8') > LIMITS.maxDataBytes) {
    throw new PayloadTooLargeError(`data exceeds ${LIMITS.maxDataBytes} bytes when serialized`);
  }

  let id: string;
  if (Object.hasOwn(body, 'id') && body.id !== undefined) {
    if (typeof body.id !== 'string' || !ID_PATTERN.test(body.id)) {
      throw new BadRequestError(`id ${ID_RULE}`);
    }
    id = body.id;
  } else {
    id = newId();
  }
  return { id, to, data: body.data, dataJson };
}

/** Validates a list of 1–100 uids named `field` in messages; duplicates are dropped. */
export function parseUidList(uids: unknown, field: string): string[] {
  if (!Array.isArray(uids) || uids.length === 0)
    throw new BadRequestError(`${field} must be a non-empty array`);
  if (uids.length > LIMITS.maxUids)
    throw new BadRequestError(`${field} must hold at most ${LIMITS.maxUids} uids`);
  uids.forEach((uid, i) => {
    if (!isValidUid(uid)) {
      throw new BadRequestError(`${field}[${i}] ${UID_RULE}`);
    }
  });
  return [...new Set(uids as string[])];
}

function parseTarget(to: unknown): PublishTarget {
  if (to === undefined) throw new BadRequestError('to is required');
  if (!isPlainObject(to)) throw new BadRequestError('to must be an object');
  const keys = Object.keys(to);
  for (const key of keys) {
    if (!(TARGET_KEYS as readonly string[]).includes(key)) {
      throw new BadRequestError(`unknown field to.${fieldName(key)}`);
    }
  }
  if (keys.length !== 1) throw new BadRequestError('to must have exactly one of uid, uids, topic, all');
  if (Object.hasOwn(to, 'uid')) {
    if (!isValidUid(to.uid)) throw new BadRequestError(`to.uid ${UID_RULE}`);
    return { uid: to.uid };
  }
  if (Object.hasOwn(to, 'uids')) return { uids: parseUidList(to.uids, 'to.uids') };
  if (Object.hasOwn(to, 'topic')) {
    if (!isValidTopic(to.topic)) throw new BadRequestError(`to.topic ${ID_RULE}`);
    return { topic: to.topic };
  }
  if (to.all !== true) throw new BadRequestError('to.all must be true');
  return { all: true };
}
