import { BadRequestError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { ID_PATTERN, ID_RULE, MAX_ID_LENGTH, UID_RULE } from '../shared/protocol';
import { parseBatch } from './batch';
import { fieldName, isPlainObject, parseJsonBody } from './json';
import { type PublishRequest, parsePublishRequest, parseUidList } from './publish-request';
import { isValidTopic } from './topics';
import { isValidUid } from './uid';

/** A presence query. */
export type PresenceQuery =
  | { readonly uid: string }
  | { readonly uids: readonly string[] }
  | { readonly topic: string };

/** Everything the publish entry points accept. Field names are the README's contract. */
export type Command =
  | { readonly kind: 'publish'; readonly request: PublishRequest }
  | { readonly kind: 'batch'; readonly requests: readonly PublishRequest[] }
  | { readonly kind: 'presence'; readonly query: PresenceQuery }
  | {
      readonly kind: 'kick';
      readonly uid: string;
      readonly reason?: string;
      readonly revoke?: true;
      /** The revocation's line (epoch seconds), when the caller gave it; only with `revoke`. */
      readonly before?: number;
    }
  | { readonly kind: 'status'; readonly id: string };

/** Room a derived id keeps for a batch item's `:<index>` suffix. */
const INDEX_SUFFIX_ROOM = 8;

/**
 * Where a publish without an `id` gets one: called without an index for a single publish, with
 * the item's index for a batch item.
 */
export type IdSource = (index?: number) => string;

/**
 * Ids derived from something that stays the same when the event is delivered again (an SNS
 * message id, a Lambda request id): `base` for a single publish, `base:<index>` for a batch item.
 * A retried publish then keeps its id, so clients drop what they already showed and a sharded
 * publish skips the shards it finished. A missing base, or one that would not make a valid id,
 * gives random ids instead.
 *
 * @example
 * idsFrom('5f2b…')(3) // '5f2b…:3'
 */
export function idsFrom(base: unknown): IdSource {
  if (typeof base !== 'string' || base.length > MAX_ID_LENGTH - INDEX_SUFFIX_ROOM || !ID_PATTERN.test(base))
    return () => crypto.randomUUID();
  return (index) => (index === undefined ? base : `${base}:${index}`);
}

/**
 * Parses a body for the publish Lambda: `{"presence":...}`, `{"status":...}`, `{"kick":...}`,
 * `{"batch":[...]}`, or a publish body. `nowMs` is the clock a kick's `before` is checked against.
 * Throws {@link BadRequestError} naming the field.
 */
export function parseCommand(
  input: unknown,
  newId: IdSource = () => crypto.randomUUID(),
  nowMs: number = Date.now(),
): Command {
  const body = parseJsonBody(input);
  // Parsed once: JSON text that holds a string (of JSON text, even) is no body, not text to parse again.
  if (!isPlainObject(body)) throw new BadRequestError('body must be a JSON object');
  if (Object.hasOwn(body, 'presence')) {
    if (Object.keys(body).length !== 1) throw new BadRequestError('presence must be the only field');
    return { kind: 'presence', query: parsePresence(body.presence) };
  }
  if (Object.hasOwn(body, 'status')) {
    if (Object.keys(body).length !== 1) throw new BadRequestError('status must be the only field');
    if (typeof body.status !== 'string' || !ID_PATTERN.test(body.status)) {
      throw new BadRequestError('status must be a publish id');
    }
    return { kind: 'status', id: body.status };
  }
  if (Object.hasOwn(body, 'batch')) {
    if (Object.keys(body).length !== 1) throw new BadRequestError('batch must be the only field');
    return { kind: 'batch', requests: parseBatch(body.batch, (index) => newId(index)) };
  }
  if (Object.hasOwn(body, 'kick')) {
    if (Object.keys(body).length !== 1) throw new BadRequestError('kick must be the only field');
    const kick = body.kick;
    if (!isPlainObject(kick)) throw new BadRequestError('kick must be an object');
    for (const key of Object.keys(kick)) {
      if (key !== 'uid' && key !== 'reason' && key !== 'revoke' && key !== 'before')
        throw new BadRequestError(`unknown field kick.${fieldName(key)}`);
    }
    if (kick.revoke !== undefined && typeof kick.revoke !== 'boolean')
      throw new BadRequestError('kick.revoke must be a boolean');
    if (!isValidUid(kick.uid)) throw new BadRequestError(`kick.uid ${UID_RULE}`);
    const maxReason = LIMITS.maxKickReasonLength;
    if (kick.reason !== undefined && (typeof kick.reason !== 'string' || kick.reason.length > maxReason)) {
      throw new BadRequestError(`kick.reason must be a string of at most ${maxReason} characters`);
    }
    const before =
      kick.before === undefined ? undefined : parseBefore(kick.before, kick.revoke === true, nowMs);
    return {
      kind: 'kick',
      uid: kick.uid,
      ...(kick.reason === undefined ? {} : { reason: kick.reason as string }),
      ...(kick.revoke === true ? { revoke: true as const } : {}),
      ...(before === undefined ? {} : { before }),
    };
  }
  return { kind: 'publish', request: parsePublishRequest(body, () => newId()) };
}

/**
 * A kick's `before`: the revocation's line in epoch seconds, a fraction cut to the second as a
 * token's `iat` is. It may be ahead of the function's clock by the skew a token's `iat` may be
 * (the caller's clock is often the signer's), and no older than the longest token lifetime: an
 * older line refuses no token that is still valid, so a kick sent with one (a redrive days later)
 * is a mistake better answered than carried out.
 */
function parseBefore(value: unknown, revoke: boolean, nowMs: number): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new BadRequestError('kick.before must be a number of epoch seconds');
  }
  if (!revoke) throw new BadRequestError('kick.before is allowed only with "revoke":true');
  const before = Math.floor(value);
  const now = Math.floor(nowMs / 1000);
  const ahead = LIMITS.tokenClockSkewSeconds;
  if (before > now + ahead) {
    throw new BadRequestError(`kick.before must be at most ${ahead} s ahead of the function's clock`);
  }
  const behind = LIMITS.maxTokenLifetimeSeconds;
  if (before < now - behind) {
    throw new BadRequestError(
      `kick.before must be at most ${behind} s behind the function's clock (an older line refuses no valid token)`,
    );
  }
  return before;
}

function parsePresence(value: unknown): PresenceQuery {
  if (!isPlainObject(value)) throw new BadRequestError('presence must be an object');
  const keys = Object.keys(value);
  // An unknown field is named first, so a typo beside a valid target is not reported as two targets.
  const unknown = keys.find((key) => key !== 'uid' && key !== 'uids' && key !== 'topic');
  if (unknown !== undefined) throw new BadRequestError(`unknown field presence.${fieldName(unknown)}`);
  if (keys.length !== 1) throw new BadRequestError('presence must have exactly one of uid, uids, topic');
  const key = keys[0];
  if (key === 'uid') {
    if (!isValidUid(value.uid)) throw new BadRequestError(`presence.uid ${UID_RULE}`);
    return { uid: value.uid };
  }
  if (key === 'uids') return { uids: parseUidList(value.uids, 'presence.uids') };
  if (key === 'topic') {
    if (!isValidTopic(value.topic)) throw new BadRequestError(`presence.topic ${ID_RULE}`);
    return { topic: value.topic };
  }
  throw new BadRequestError('presence must have exactly one of uid, uids, topic');
}
