import { BadRequestError, ForbiddenError, UnavailableError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import type { Principal } from './auth-context';
import { type DeliveryDeps, deliverOne } from './delivery';
import { encodeMessage, type ServerFrame } from './frames';
import { hasGap, type LogSettings, topicHasHistory, topicStream, uidStream } from './log';
import type { MessageLog } from './ports';
import { topicGranted } from './topics';

/** Everything a resume needs. */
export interface ResumeDeps extends DeliveryDeps {
  readonly log: MessageLog;
  readonly logSettings: LogSettings;
  /** Most messages one resume replays. @default LIMITS.maxReplay */
  readonly maxReplay?: number;
}

/**
 * Replays a stream to one connection, in order, after `since`, and returns the `resumed` frame
 * that closes the replay. Without a topic the stream is the caller's own uid: a client can only
 * ever read its own log. A topic stream needs a granted topic that keeps history.
 */
export async function resume(
  connectionId: string,
  principal: Principal,
  request: { since: number; topic?: string },
  nowMs: number,
  deps: ResumeDeps,
): Promise<ServerFrame> {
  const { topic, since } = request;
  let stream = uidStream(principal.uid);
  if (topic !== undefined) {
    if (!topicGranted(topic, principal.grants))
      throw new ForbiddenError(`token does not grant topic ${topic}`);
    if (!topicHasHistory(topic, deps.logSettings))
      throw new BadRequestError(`topic ${topic} keeps no history`);
    stream = topicStream(topic);
  }
  const limit = deps.maxReplay ?? LIMITS.maxReplay;
  const read = await deps.log.read(stream, since, nowMs, limit);
  let last = since;
  for (const message of read.messages) {
    const outcome = await deliverOne(
      { connectionId, payload: encodeMessage({ ...message, topic: message.topic }) },
      deps,
    );
    if (outcome !== 'delivered') {
      throw new UnavailableError(`replay stopped after seq ${last}; send resume again`);
    }
    last = message.seq;
  }
  const more = read.messages.length === limit && last < read.latest;
  const gap = hasGap(since, read, deps.logSettings.maxMessages);
  // Without a gap, report the last seq actually replayed: the counter may be ahead of a message
  // still being written, and the client must not skip it.
  const frame: ServerFrame = {
    type: 'resumed',
    ...(topic === undefined ? {} : { topic }),
    seq: gap && !more ? Math.max(read.latest, last) : last,
    ...(gap ? { gap: true as const } : {}),
    ...(more ? { more: true as const } : {}),
  };
  return frame;
}
