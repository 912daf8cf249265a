/**
 * A batch publish: several publish bodies in one call (`{"batch":[...]}`), so a backend sending
 * many small pushes pays one invocation for them and their round trips overlap. The batch is
 * validated whole before anything is sent; its items then run concurrently, except that items
 * whose audiences can overlap keep the batch's order (see {@link runInBatchOrder}).
 */
import { BadRequestError, PushError } from '../shared/errors';
import { LIMITS } from '../shared/limits';
import { isPlainObject } from './json';
import { concurrencyLimit } from './pool';
import { type PublishRequest, type PublishTarget, parsePublishRequest } from './publish-request';

/**
 * Parses the `batch` array: 1 to {@link LIMITS.maxBatch} publish bodies, each checked as a single
 * publish is. An error names the item (`batch[2]: to.uid must be …`) and keeps its code, so one bad
 * item refuses the whole batch and nothing in it is sent. Two items may not share an `id`: clients
 * would drop the second as a repeat.
 *
 * @example
 * parseBatch([{ to: { uid: 'u1' }, data: 1 }, { to: { uid: 'u2' }, data: 2 }])
 */
export function parseBatch(
  items: unknown,
  newId: (index: number) => string = () => crypto.randomUUID(),
): PublishRequest[] {
  if (!Array.isArray(items) || items.length === 0)
    throw new BadRequestError('batch must be a non-empty array');
  if (items.length > LIMITS.maxBatch)
    throw new BadRequestError(`batch must hold at most ${LIMITS.maxBatch} publishes`);
  const seen = new Map<string, number>();
  return items.map((item, i) => {
    // Items are objects, never JSON text inside JSON.
    if (!isPlainObject(item)) throw new BadRequestError(`batch[${i}] must be a JSON object`);
    let request: PublishRequest;
    try {
      request = parsePublishRequest(item, () => newId(i));
    } catch (error) {
      if (error instanceof PushError) {
        throw new PushError(error.code, `batch[${i}]: ${error.message}`, { cause: error });
      }
      throw error;
    }
    const first = seen.get(request.id);
    if (first !== undefined) throw new BadRequestError(`batch[${i}].id repeats batch[${first}].id`);
    seen.set(request.id, i);
    return request;
  });
}

const EVERYONE = 'all';

/**
 * The keys whose order a target must keep: one per uid, the topic, or every key for a broadcast
 * (written as `all`). A uid push's keys order its log appends (each takes the next seq) and its
 * live deliveries; a topic's order its history and, when delivered inline, its live deliveries. A
 * big topic or broadcast item is done once its shard jobs are queued: later items do not wait for
 * the workers, so live order holds for inline publishes only.
 */
export function orderKeys(to: PublishTarget): readonly string[] {
  if ('uid' in to) return [`uid:${to.uid}`];
  if ('uids' in to) return to.uids.map((uid) => `uid:${uid}`);
  if ('topic' in to) return [`topic:${to.topic}`];
  return [EVERYONE];
}

/**
 * Runs `work` over `items` with at most `concurrency` in flight, where an item starts only after
 * every earlier item it shares a key with has settled (others start as slots free up). A broadcast
 * (`all`) waits for everything before it and everything after waits for it, so a uid push after a
 * broadcast in the batch reaches its connections after the broadcast does. Results come back in
 * item order; one rejection does not stop the others, and the first is rethrown once all settle.
 * `work` gets each item with its index in `items`.
 *
 * @example
 * await runInBatchOrder(requests, (r) => orderKeys(r.to), 10, (r) => publish(r, deps))
 */
export async function runInBatchOrder<T, R>(
  items: readonly T[],
  keysOf: (item: T) => readonly string[],
  concurrency: number,
  work: (item: T, index: number) => Promise<R>,
): Promise<R[]> {
  const results: Promise<R>[] = [];
  /** The latest started item per key; `all` stands for every key. */
  const lastByKey = new Map<string, Promise<unknown>>();
  let lastBroadcast: Promise<unknown> | undefined;
  let everything: Promise<unknown>[] = [];
  const limit = concurrencyLimit(concurrency);

  for (const [index, item] of items.entries()) {
    const keys = keysOf(item);
    const before: Promise<unknown>[] = [];
    if (keys.includes(EVERYONE)) {
      before.push(...everything);
    } else {
      if (lastBroadcast !== undefined) before.push(lastBroadcast);
      for (const key of keys) {
        const previous = lastByKey.get(key);
        if (previous !== undefined) before.push(previous);
      }
    }
    // An item takes a slot only once everything it waits on has settled, so it never holds a
    // slot while waiting: no deadlock, and unrelated later items are not held up behind it. The
    // async wrapper turns a synchronous throw into a rejection, so the slot is always given back.
    const result = Promise.all(before).then(() => limit(async () => work(item, index)));
    const done = result.then(
      () => undefined,
      () => undefined,
    );
    if (keys.includes(EVERYONE)) {
      lastBroadcast = done;
      lastByKey.clear();
      everything = [done];
    } else {
      for (const key of keys) lastByKey.set(key, done);
      everything.push(done);
    }
    results.push(result);
  }
  const outcomes = await Promise.allSettled(results);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
  if (failed !== undefined) throw failed.reason;
  return outcomes.map((o) => (o as PromiseFulfilledResult<R>).value);
}
