import { BadRequestError, type ErrorCode, PayloadTooLargeError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { EPOCH_PATTERN, EPOCH_RULE, ID_RULE } from '../shared/protocol';
import { isPlainObject, parseJsonText } from './json';
import { isValidTopic } from './topics';

/** A client → server frame, after validation. */
export type ClientAction =
  | { readonly action: 'ping' }
  | { readonly action: 'subscribe'; readonly topic: string }
  | { readonly action: 'unsubscribe'; readonly topic: string }
  | { readonly action: 'resume'; readonly since: number; readonly topic?: string; readonly epoch?: string };

const ACTIONS = ['ping', 'subscribe', 'unsubscribe', 'resume'] as const;

/**
 * Parses and validates one client text frame. Throws {@link BadRequestError} or
 * {@link PayloadTooLargeError} with a message that says what was wrong.
 *
 * @example
 * parseClientFrame('{"action":"subscribe","topic":"orders"}') // { action: 'subscribe', topic: 'orders' }
 */
export function parseClientFrame(body: string | undefined | null): ClientAction {
  if (body === undefined || body === null || body === '') {
    throw new BadRequestError('empty frame: send a JSON object with an "action"');
  }
  if (Buffer.byteLength(body, 'utf8') > LIMITS.maxControlFrameBytes) {
    throw new PayloadTooLargeError(`frame exceeds ${LIMITS.maxControlFrameBytes} bytes`);
  }
  const parsed = parseJsonText(body, 'frame');
  if (!isPlainObject(parsed)) throw new BadRequestError('frame must be a JSON object');
  if (!Object.hasOwn(parsed, 'action')) throw new BadRequestError('missing "action"');
  const action = parsed.action;
  if (typeof action !== 'string') throw new BadRequestError('"action" must be a string');
  switch (action) {
    case 'ping':
      return { action };
    case 'subscribe':
    case 'unsubscribe': {
      const topic = Object.hasOwn(parsed, 'topic') ? parsed.topic : undefined;
      if (topic === undefined) throw new BadRequestError('missing "topic"');
      if (!isValidTopic(topic)) {
        throw new BadRequestError(`"topic" ${ID_RULE}`);
      }
      return { action, topic };
    }
    case 'resume': {
      const since = Object.hasOwn(parsed, 'since') ? parsed.since : undefined;
      if (since === undefined) throw new BadRequestError('missing "since"');
      if (typeof since !== 'number' || !Number.isSafeInteger(since) || since < 0) {
        throw new BadRequestError('"since" must be a non-negative integer');
      }
      const epoch = Object.hasOwn(parsed, 'epoch') ? parsed.epoch : undefined;
      if (epoch !== undefined && (typeof epoch !== 'string' || !EPOCH_PATTERN.test(epoch))) {
        throw new BadRequestError(`"epoch" ${EPOCH_RULE}`);
      }
      const epochField = epoch === undefined ? {} : { epoch };
      const topic = Object.hasOwn(parsed, 'topic') ? parsed.topic : undefined;
      if (topic === undefined) return { action, since, ...epochField };
      if (!isValidTopic(topic)) throw new BadRequestError(`"topic" ${ID_RULE}`);
      return { action, since, topic, ...epochField };
    }
    default:
      throw new BadRequestError(
        `unknown action ${JSON.stringify(action.slice(0, 64))}; expected one of ${ACTIONS.join(', ')}`,
      );
  }
}

/**
 * The valid `topic` of a subscribe, unsubscribe or resume frame that {@link parseClientFrame}
 * refused for another field (a resume's `since` or `epoch`), so its error can still name the
 * topic it was about. Only called on the error path, so parsing the frame again costs nothing
 * on a good one.
 *
 * @example
 * refusedFrameTopic('{"action":"resume","since":-1,"topic":"orders"}') // 'orders'
 */
export function refusedFrameTopic(body: string | undefined | null): string | undefined {
  if (typeof body !== 'string' || Buffer.byteLength(body, 'utf8') > LIMITS.maxControlFrameBytes)
    return undefined;
  let parsed: unknown;
  try {
    parsed = parseJsonText(body, 'frame');
  } catch {
    return undefined;
  }
  if (!isPlainObject(parsed) || !Object.hasOwn(parsed, 'topic')) return undefined;
  const { action, topic } = parsed;
  if (action !== 'subscribe' && action !== 'unsubscribe' && action !== 'resume') return undefined;
  return isValidTopic(topic) ? topic : undefined;
}

/** Server → client frames. Field names here are the README's contract. */
export type ServerFrame =
  | { type: 'pong'; ts: number; seq?: number; epoch?: string }
  | { type: 'subscribed'; topic: string }
  | { type: 'unsubscribed'; topic: string }
  | { type: 'error'; code: ErrorCode; message: string; topic?: string }
  | { type: 'kicked'; reason?: string }
  | { type: 'expired' }
  | {
      type: 'resumed';
      topic?: string;
      seq: number;
      epoch?: string;
      latest?: number;
      gap?: true;
      more?: true;
    }
  | { type: 'message'; id: string; topic?: string; seq?: number; epoch?: string; data: unknown; ts: number }
  | { type: 'messages'; messages: unknown[] };

/** Serializes a server frame. */
export function encodeFrame(frame: ServerFrame): string {
  return JSON.stringify(frame);
}

/** The `message` frame a publish delivers; `topic` only for topic pushes. */
export function messageFrame(id: string, data: unknown, ts: number, topic?: string): ServerFrame {
  return topic === undefined ? { type: 'message', id, data, ts } : { type: 'message', id, topic, data, ts };
}

/**
 * Serializes a `message` frame around data that is already JSON, so a large payload is
 * serialized once per publish however many connections and streams it reaches. The key order is
 * the same as {@link encodeFrame} would give: type, id, topic, seq, epoch, data, ts.
 */
export function encodeMessage(parts: {
  id: string;
  topic?: string;
  seq?: number;
  epoch?: string;
  dataJson: string;
  ts: number;
}): string {
  let out = `{"type":"message","id":${JSON.stringify(parts.id)}`;
  if (parts.topic !== undefined) out += `,"topic":${JSON.stringify(parts.topic)}`;
  if (parts.seq !== undefined) out += `,"seq":${parts.seq}`;
  if (parts.epoch !== undefined) out += `,"epoch":${JSON.stringify(parts.epoch)}`;
  return `${out},"data":${parts.dataJson},"ts":${parts.ts}}`;
}

const MESSAGES_HEAD = '{"type":"messages","messages":[';
const MESSAGES_TAIL = ']}';

/** Bytes a `messages` frame adds around the message frames it carries, commas aside. */
export const MESSAGES_FRAME_OVERHEAD = Buffer.byteLength(MESSAGES_HEAD + MESSAGES_TAIL);

/**
 * Serializes a `messages` frame around `message` frames that are already serialized (by
 * {@link encodeMessage}), in order: what a replay posts, many messages to one frame.
 */
export function encodeMessages(messages: readonly string[]): string {
  return `${MESSAGES_HEAD}${messages.join(',')}${MESSAGES_TAIL}`;
}
