/**
 * One open WebSocket connection as the emulator tracks it: the socket, what API Gateway knows
 * about it (identity, authorizer context, activity). The emulator may hold tens of thousands of
 * these, so a connection keeps what it must and nothing per connection that can be shared: no
 * timer of its own (the emulator sweeps every connection against the lifetime limits with one),
 * and a `closed` promise made only when someone waits for it.
 */
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import type { AuthorizerContext } from '../../lambdas/shared/events';
import type { ConnectionIdentity } from './events';

/** Why a connection closed, as `$disconnect` reports it. */
export interface CloseCause {
  readonly code: number;
  readonly reason: string;
}

/** The lifetime limits every connection of an emulator shares. */
export interface ConnectionLimits {
  readonly idleTimeoutMs: number;
  readonly maxConnectionMs: number;
}

/** An open (or closing) connection. */
export class Connection {
  readonly identity: ConnectionIdentity;
  readonly authorizer: AuthorizerContext;
  readonly ws: WebSocket;
  /** The socket under {@link ws}: the emulator corks it to answer a held chunk's frames in one write. */
  readonly socket: Duplex;
  /** Last data frame in either direction, epoch ms (GetConnection's `lastActiveAt`). */
  lastActiveAt: number;
  state: 'open' | 'closing' | 'closed' = 'open';
  /** Set when the server side starts the close, so `$disconnect` reports the server's code. */
  closeCause: CloseCause | undefined;
  #closed: Promise<void> | undefined;
  #markClosed: (() => void) | undefined;

  constructor(ws: WebSocket, socket: Duplex, identity: ConnectionIdentity, authorizer: AuthorizerContext) {
    this.ws = ws;
    this.socket = socket;
    this.identity = identity;
    this.authorizer = authorizer;
    this.lastActiveAt = Date.now();
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
   * posts) reset the idle timeout; ping/pong control frames do not, as in API Gateway.
   */
  touch(now = Date.now()): void {
    this.lastActiveAt = now;
  }

  /**
   * True when an open connection has passed either limit at `now`: idle since `lastActiveAt`, or
   * older than the maximum age, which counts from connectedAt (before `$connect` ran), as AWS's
   * 2-hour limit does.
   */
  expired(now: number, limits: ConnectionLimits): boolean {
    return (
      this.state === 'open' &&
      (now - this.lastActiveAt >= limits.idleTimeoutMs ||
        now - this.identity.connectedAt >= limits.maxConnectionMs)
    );
  }

  /** Marks the connection closed. Idempotent. */
  markClosed(): void {
    this.state = 'closed';
    this.#markClosed?.();
  }
}
