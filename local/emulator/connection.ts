/**
 * One open WebSocket connection as the emulator tracks it: the socket, what API Gateway knows
 * about it (identity, authorizer context, activity), and one timer for its two lifetime limits.
 * The emulator may hold tens of thousands of these, so a connection keeps what it must and
 * shares the rest: one timer instead of one per limit, limits and callback in an object all
 * connections share, and a `closed` promise made only when someone waits for it.
 */
import type { WebSocket } from 'ws';
import type { AuthorizerContext } from '../../lambdas/shared/events';
import type { ConnectionIdentity } from './events';

/** Why a connection closed, as `$disconnect` reports it. */
export interface CloseCause {
  readonly code: number;
  readonly reason: string;
}

/** The lifetime limits every connection of an emulator shares. */
export interface ConnectionTimers {
  readonly idleTimeoutMs: number;
  readonly maxConnectionMs: number;
  /** Called once when a connection passes either limit. */
  readonly onTimeout: (connection: Connection) => void;
}

/** An open (or closing) connection. */
export class Connection {
  readonly identity: ConnectionIdentity;
  readonly authorizer: AuthorizerContext;
  readonly ws: WebSocket;
  /** Last data frame in either direction, epoch ms (GetConnection's `lastActiveAt`). */
  lastActiveAt: number;
  state: 'open' | 'closing' | 'closed' = 'open';
  /** Set when the server side starts the close, so `$disconnect` reports the server's code. */
  closeCause: CloseCause | undefined;
  readonly #timers: ConnectionTimers;
  #timer: NodeJS.Timeout | undefined;
  #closed: Promise<void> | undefined;
  #markClosed: (() => void) | undefined;

  constructor(
    ws: WebSocket,
    identity: ConnectionIdentity,
    authorizer: AuthorizerContext,
    timers: ConnectionTimers,
  ) {
    this.ws = ws;
    this.identity = identity;
    this.authorizer = authorizer;
    this.lastActiveAt = Date.now();
    this.#timers = timers;
    this.#schedule(this.lastActiveAt);
  }

  get id(): string {
    return this.identity.connectionId;
  }

  /** Resolves once the socket is closed. */
  get closed(): Promise<void> {
    if (this.state === 'closed') return Promise.resolve();
    this.#closed ??= new Promise<void>((resolve) => {
      this.#markClosed = resolve;
    });
    return this.#closed;
  }

  /**
   * Records traffic. Data frames either way (client messages, route replies, `@connections`
   * posts) reset the idle timeout; ping/pong control frames do not, as in API Gateway. The timer
   * is not touched here: when it fires it looks at `lastActiveAt` and waits on if there was traffic.
   */
  touch(now = Date.now()): void {
    this.lastActiveAt = now;
  }

  /** Marks the connection closed and stops its timer. Idempotent. */
  markClosed(): void {
    this.state = 'closed';
    this.stopTimers();
    this.#markClosed?.();
  }

  /** Stops the timer without closing (the server is already closing the socket). */
  stopTimers(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** Arms the timer for the nearer limit: idle since `lastActiveAt`, or the maximum age. */
  #schedule(now: number): void {
    // The maximum age counts from connectedAt (before $connect ran), as AWS's 2-hour limit does.
    const due = Math.min(
      this.lastActiveAt + this.#timers.idleTimeoutMs,
      this.identity.connectedAt + this.#timers.maxConnectionMs,
    );
    this.#timer = setTimeout(Connection.#expire, Math.max(0, due - now), this).unref();
  }

  /** The timer fired (one function for every connection): close if a limit has passed, else wait on. */
  static #expire(this: void, connection: Connection): void {
    connection.#timer = undefined;
    if (connection.state !== 'open') return;
    const now = Date.now();
    const { idleTimeoutMs, maxConnectionMs } = connection.#timers;
    if (
      now - connection.lastActiveAt >= idleTimeoutMs ||
      now - connection.identity.connectedAt >= maxConnectionMs
    ) {
      connection.#timers.onTimeout(connection);
      return;
    }
    connection.#schedule(now);
  }
}
