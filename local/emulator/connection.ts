/**
 * One open WebSocket connection as the emulator tracks it: the socket, what API Gateway knows
 * about it (identity, authorizer context, activity), and its two lifetime timers.
 */
import type { WebSocket } from 'ws';
import type { AuthorizerContext } from '../../lambdas/shared/events';
import type { ConnectionIdentity } from './events';

/** Why a connection closed, as `$disconnect` reports it. */
export interface CloseCause {
  readonly code: number;
  readonly reason: string;
}

/** Options for {@link Connection}. */
export interface ConnectionTimers {
  readonly idleTimeoutMs: number;
  readonly maxConnectionMs: number;
  readonly onIdle: () => void;
  readonly onMaxAge: () => void;
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
  /** Resolves once the socket is closed. */
  readonly closed: Promise<void>;
  #markClosed: () => void = () => {};
  readonly #idle: NodeJS.Timeout;
  readonly #maxAge: NodeJS.Timeout;

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
    this.closed = new Promise<void>((resolve) => {
      this.#markClosed = resolve;
    });
    this.#idle = setTimeout(timers.onIdle, timers.idleTimeoutMs).unref();
    // Measured from connectedAt (before $connect ran), as AWS's 2-hour limit is.
    const age = Date.now() - identity.connectedAt;
    this.#maxAge = setTimeout(timers.onMaxAge, Math.max(0, timers.maxConnectionMs - age)).unref();
  }

  get id(): string {
    return this.identity.connectionId;
  }

  /**
   * Records traffic. Data frames either way (client messages, route replies, `@connections`
   * posts) reset the idle timeout; ping/pong control frames do not, as in API Gateway.
   */
  touch(now = Date.now()): void {
    this.lastActiveAt = now;
    this.#idle.refresh();
  }

  /** Marks the connection closed and stops its timers. Idempotent. */
  markClosed(): void {
    this.state = 'closed';
    clearTimeout(this.#idle);
    clearTimeout(this.#maxAge);
    this.#markClosed();
  }

  /** Stops the timers without closing (the server is already closing the socket). */
  stopTimers(): void {
    clearTimeout(this.#idle);
    clearTimeout(this.#maxAge);
  }
}
