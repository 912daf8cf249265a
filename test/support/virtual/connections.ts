/**
 * Virtual connections: emulator entries with no socket behind them. The Management API treats
 * them as open connections (GetConnection answers, DeleteConnection closes them and runs
 * `$disconnect`), and a post to one is counted instead of written, so a bench can measure fan-out
 * to 100k connections on a 2-core machine and a test can check every connection got exactly one
 * copy. Their DynamoDB records are written as `$connect` and subscribe write them (records.ts);
 * the stack takes them through its `attachSocketless` extension point.
 */
import type { AuthorizerContext } from '../../../lambdas/shared/events';
import type { ConnectionIdentity } from '../../../local/emulator/events';
import type { SocketlessConnections } from '../../../local/emulator/gateway';

/** One virtual connection. */
export interface VirtualConnection {
  readonly identity: ConnectionIdentity;
  /** `requestContext.authorizer` as the real authorizer would have made it. */
  readonly authorizer: AuthorizerContext;
  /** Epoch ms of the last post (GetConnection's `lastActiveAt`). */
  lastActiveAt: number;
  /** Posts accepted for it since it was added (or since the last reset). */
  deliveries: number;
  /** The last post's bytes, as UTF-8. */
  lastPayload: string | undefined;
}

/**
 * The registry: per-id delivery counts, and the arrival time of every delivery for rate checks.
 *
 * @example
 * virtual.register(identity, authorizer);
 * virtual.post(identity.connectionId, Buffer.from('{}')); // true
 * virtual.deliveriesTo(identity.connectionId);            // 1
 */
export class VirtualConnections implements SocketlessConnections {
  readonly #entries = new Map<string, VirtualConnection>();
  #times: number[] = [];
  #total = 0;

  /** Open virtual connections. */
  get size(): number {
    return this.#entries.size;
  }

  /** Posts accepted by every virtual connection since the last reset. */
  get totalDeliveries(): number {
    return this.#total;
  }

  register(identity: ConnectionIdentity, authorizer: AuthorizerContext): void {
    this.#entries.set(identity.connectionId, {
      identity,
      authorizer,
      lastActiveAt: identity.connectedAt,
      deliveries: 0,
      lastPayload: undefined,
    });
  }

  get(connectionId: string): VirtualConnection | undefined {
    return this.#entries.get(connectionId);
  }

  /** Counts a post; false when no such virtual connection is open. */
  post(connectionId: string, data: Buffer, now = Date.now()): boolean {
    const entry = this.#entries.get(connectionId);
    if (entry === undefined) return false;
    entry.deliveries++;
    entry.lastActiveAt = now;
    entry.lastPayload = data.toString('utf8');
    this.#total++;
    this.#times.push(performance.now());
    return true;
  }

  /** Removes one; resolves to the entry it was, or undefined. */
  remove(connectionId: string): VirtualConnection | undefined {
    const entry = this.#entries.get(connectionId);
    this.#entries.delete(connectionId);
    return entry;
  }

  /** Posts accepted for `connectionId` (0 for an id that is not open). */
  deliveriesTo(connectionId: string): number {
    return this.#entries.get(connectionId)?.deliveries ?? 0;
  }

  /**
   * How many of `ids` got each number of posts, as a histogram: `{ 1: 40 }` when each of 40 got
   * exactly one.
   */
  copies(ids: readonly string[]): Record<number, number> {
    const histogram: Record<number, number> = {};
    for (const id of ids) {
      const n = this.deliveriesTo(id);
      histogram[n] = (histogram[n] ?? 0) + 1;
    }
    return histogram;
  }

  /** The last post's text for `connectionId`. */
  lastPayload(connectionId: string): string | undefined {
    return this.#entries.get(connectionId)?.lastPayload;
  }

  /** Ids of the open virtual connections, in the order they were added. */
  ids(): string[] {
    return [...this.#entries.keys()];
  }

  /**
   * When each delivery since the last reset arrived, in `performance.now()` milliseconds, in
   * arrival order: what a rate check measures.
   */
  deliveryTimes(): readonly number[] {
    return this.#times;
  }

  /** Zeroes every count and forgets the arrival times (between two measurements). */
  resetCounts(): void {
    for (const entry of this.#entries.values()) {
      entry.deliveries = 0;
      entry.lastPayload = undefined;
    }
    this.#times = [];
    this.#total = 0;
  }
}
