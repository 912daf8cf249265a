/**
 * The small interfaces the core needs from the outside world. The DynamoDB and Management API
 * adapters implement them; unit tests implement them in memory.
 */

/** One connection, as stored at `$connect`. Times are epoch milliseconds except `expiresAt`. */
export interface ConnectionRecord {
  readonly connectionId: string;
  readonly uid: string;
  readonly shard: number;
  readonly connectedAt: number;
  readonly lastSeenAt: number;
  /** Epoch seconds; the table's TTL attribute. */
  readonly expiresAt: number;
  /** Topic grants from the token. */
  readonly grants: readonly string[];
  /** The token's `exp`, epoch seconds: nothing is delivered to the connection after it. */
  readonly tokenExp?: number;
  readonly sourceIp?: string;
  readonly userAgent?: string;
  /** The client instance that opened it (the handshake's `instance` parameter), when valid. */
  readonly instance?: string;
}

/** One topic subscription of one connection. */
export interface SubscriptionRecord {
  readonly connectionId: string;
  readonly topic: string;
  /** The subscribing connection's uid. */
  readonly uid: string;
  readonly shard: number;
  readonly connectedAt: number;
  /** Epoch seconds; the table's TTL attribute. */
  readonly expiresAt: number;
  /** The subscribing connection's token `exp`, epoch seconds, so topic deliveries can honour it. */
  readonly tokenExp?: number;
}

/** A connection to deliver to. */
export interface Target {
  readonly connectionId: string;
  readonly uid: string;
  /** When the connection was made (epoch ms), if the store knows. */
  readonly connectedAt?: number;
  /** The connection's token `exp` (epoch seconds), if the store knows: see `deliverOne`. */
  readonly tokenExp?: number;
}

/** One live connection as presence reports it. */
export interface ConnectionDetails {
  readonly connectionId: string;
  readonly connectedAt: number;
  readonly lastSeenAt: number;
  readonly topics: readonly string[];
  /** The client instance that opened it, when it said (read for eviction, never answered). */
  readonly instance?: string;
}

/** Where connections and subscriptions live. Reads never return expired records. */
export interface ConnectionStore {
  /** Stores a new connection. */
  put(record: ConnectionRecord): Promise<void>;
  /** Deletes every record of a connection; resolves to how many were deleted. */
  remove(connectionId: string): Promise<number>;
  /**
   * Deletes the connection's own record (not its subscriptions) and resolves to whether this call
   * deleted it (a conditional delete): of concurrent claims of one connection exactly one wins, so
   * only one caller goes on to end it. The connection stops counting for its uid at once.
   */
  claim(connectionId: string): Promise<boolean>;
  /** Whether the connection's own record is stored (a strongly consistent read). */
  isStored(connectionId: string): Promise<boolean>;
  /** Refreshes `lastSeenAt` and the expiry; false when the connection is no longer stored. */
  touch(connectionId: string, nowMs: number): Promise<boolean>;
  /**
   * Stores a subscription (idempotent) and notes the topic on the connection record, unless the
   * connection already holds `maxSubscriptions` other topics: then it throws `LimitExceededError`
   * and stores nothing. The check and the note are one conditional write on the connection record,
   * so the cap holds however many instances serve the connection's frames at once; an unsubscribe
   * of the same topic racing it never leaves a subscription the note does not count.
   * Throws `GoneError` when the connection is no longer stored.
   */
  subscribe(record: SubscriptionRecord, nowMs: number, maxSubscriptions: number): Promise<void>;
  /**
   * Deletes a subscription (idempotent: the topic count only drops if it was subscribed): the
   * note on the connection record first, then the subscription record.
   */
  unsubscribe(connectionId: string, topic: string): Promise<void>;
  /** The live connections of one uid with their details: one Query. */
  connectionsOf(uid: string, nowMs: number): Promise<ConnectionDetails[]>;
  /** The live connections of one uid: one Query. */
  byUid(uid: string, nowMs: number): Promise<Target[]>;
  /**
   * The live subscribers of a topic, from every shard. With `maxUids`, stops at the end of the
   * first page that brings the distinct uids past it: the answer then holds more than `maxUids`
   * uids but perhaps not every subscriber, which is all a caller refusing such a topic needs.
   */
  byTopic(topic: string, nowMs: number, maxUids?: number): Promise<Target[]>;
  /**
   * One shard of a topic's subscribers or of the broadcast, reading at most `limit` records (live
   * or expired; `Infinity` reads the shard whole): a finite limit decides whether a publish is
   * sharded without reading a big audience whole. `complete` is false when records were left unread.
   */
  readShard(to: ShardAudience, shard: number, nowMs: number, limit: number): Promise<ShardRead>;
  /**
   * One page of a shard, in the index's own order (not sorted by id): up to `limit` records read
   * (live or expired), starting just after the position of connection `after` (the start when
   * undefined). That position holds whether or not `after`'s record still exists, so a worker can
   * read a shard page by page while it delivers, and a retry can resume after a checkpoint taken
   * in this order. `next` is the connection to continue after; undefined once the shard is read.
   */
  readShardPage?(
    to: ShardAudience,
    shard: number,
    nowMs: number,
    after: string | undefined,
    limit: number,
  ): Promise<ShardPage>;
  /**
   * Takes the connection's replay lease until `untilMs` (epoch ms) and counts one resume against
   * its budget: at most `perWindow` in a window of `windowMs` opened by the first resume after
   * the previous window ended. Then counts it against `uid`'s budget, shared by all its
   * connections: at most `perUid` in each window of `windowMs` since the epoch (fixed windows,
   * so a burst across a window's end may start up to twice that); refused there, it gives the
   * lease and the connection's count back. Holds across Lambda instances. Resolves to why it was refused, or `started`.
   */
  beginReplay(
    connectionId: string,
    uid: string,
    nowMs: number,
    untilMs: number,
    budget: ReplayBudget,
  ): Promise<ReplayStart>;
  /** Gives the lease taken until `untilMs` back (idempotent; a later lease is left alone). */
  endReplay(connectionId: string, untilMs: number): Promise<void>;
}

/** How many resumes a connection, and all of one uid's connections together, may start per window. */
export interface ReplayBudget {
  readonly perWindow: number;
  readonly perUid: number;
  readonly windowMs: number;
}

/**
 * What {@link ConnectionStore.beginReplay} decided: `busy` (another replay holds the lease),
 * `exhausted` (the connection's window budget is spent), `uidExhausted` (the uid's is), `gone`
 * (no such connection).
 */
export type ReplayStart = 'started' | 'busy' | 'exhausted' | 'uidExhausted' | 'gone';

/** Whom a sharded read covers: one topic's subscribers, or every connection. */
export type ShardAudience = { readonly topic: string } | { readonly all: true };

/** What {@link ConnectionStore.readShard} found. */
export interface ShardRead {
  readonly targets: Target[];
  /** True when the shard was read to its end. */
  readonly complete: boolean;
}

/** What {@link ConnectionStore.readShardPage} read. */
export interface ShardPage {
  readonly targets: Target[];
  /** The connection whose position the next page starts after; undefined at the shard's end. */
  readonly next?: string;
}

/** What the Management API reports about a connection. */
export interface ConnectionInfo {
  readonly connectedAt: Date;
  readonly lastActiveAt: Date;
  readonly sourceIp: string;
  readonly userAgent: string;
}

/**
 * Sends to connections. Implementations throw the project's errors: `GoneError` for 410,
 * `ThrottledError` for 429, `UnavailableError` for 5xx and timeouts, `PayloadTooLargeError`,
 * `ForbiddenError`.
 */
export interface Gateway {
  send(connectionId: string, data: string | Uint8Array): Promise<void>;
  info(connectionId: string): Promise<ConnectionInfo>;
  close(connectionId: string): Promise<void>;
}

/** One stored message of a stream, exactly as it was first delivered. */
export interface LoggedMessage {
  readonly seq: number;
  readonly id: string;
  readonly topic?: string;
  /** `data`, serialized once at publish time. */
  readonly dataJson: string;
  readonly ts: number;
  /** The stream's epoch the message was logged in (none on messages logged before epochs). */
  readonly epoch?: string;
}

/**
 * Where a stream stands: its counter (0 when nothing was ever logged, or the stream was reset) and
 * its epoch (none without a counter, or on a counter made before epochs until its next append).
 */
export interface StreamHead {
  readonly latest: number;
  readonly epoch?: string;
}

/** The seq a publish took in a stream and the epoch it belongs to. */
export interface StreamPosition {
  readonly seq: number;
  readonly epoch: string;
}

/** What a resume finds in a stream. */
export interface LogRead {
  /** Messages with `seq > since`, ascending, at most the requested limit. */
  readonly messages: LoggedMessage[];
  /**
   * The stream's counter (0 when nothing was ever logged). It can run ahead of what is stored:
   * a publish takes its seq before it writes the message.
   */
  readonly latest: number;
  /** The stream's epoch; messages of another epoch (left over from before a reset) are not read. */
  readonly epoch?: string;
  /** True when a message after `since` was skipped because it had expired. */
  readonly expired?: boolean;
  /** True when the read stopped at its byte budget: messages after the last read may remain. */
  readonly truncated?: boolean;
}

/**
 * The per-uid (and per-topic) message log that makes resume possible. Sequence numbers come from
 * an atomic counter, so they never repeat or go backwards under concurrent publishes.
 */
export interface MessageLog {
  /**
   * Assigns the stream's next seq, storing nothing yet: a publish records the seq (for its retry)
   * before it stores the message. A stream without a counter gets one, with a fresh epoch.
   */
  reserve(stream: string): Promise<StreamPosition>;
  /**
   * Stores a message under a seq {@link reserve} gave. Storing the same message under the same
   * seq again (a retried publish) changes nothing.
   */
  store(stream: string, message: LoggedMessage, nowMs: number): Promise<void>;
  /**
   * Reads messages after `since` that have not expired: at most `limit` of them, and no more
   * after they hold `maxBytes` of `dataJson` (always at least one), saying so with `truncated`.
   */
  read(stream: string, since: number, nowMs: number, limit: number, maxBytes?: number): Promise<LogRead>;
  /** The stream's counter and epoch alone: one read. */
  head(stream: string): Promise<StreamHead>;
  /**
   * The stream's epoch, drawn now if it has none: one conditional write and no read, for a
   * publish that reuses a seq an earlier attempt took (publishers may not read the log).
   */
  epoch(stream: string): Promise<string>;
}

/**
 * Per-uid token revocations: after a revoke, tokens of the uid issued at or before the given
 * second are refused at connect. A revocation is kept as long as a token may live, after which
 * every token it refuses has expired anyway.
 */
export interface Revocations {
  /**
   * Refuses the uid's tokens issued at or before `beforeSeconds` (epoch seconds), unless a line
   * at or past it stands already: a line only moves forward. Resolves to the line that stands
   * after the call: this one, written at `nowMs`, or the one that refused it, with when that was
   * written (`nowMs` for one stored before lines recorded it).
   */
  revoke(uid: string, beforeSeconds: number, nowMs: number): Promise<RevocationLine>;
  /**
   * Records that the line `beforeSeconds`, written at `writtenAt`, was stored by `storedAt`, if it
   * still stands as written (one conditional update): a kick sent again then reads that time.
   * Resolves false when another line, or another time, stands.
   */
  stored(uid: string, beforeSeconds: number, writtenAt: number, storedAt: number): Promise<boolean>;
  /** What refuses the uid's new connections at `nowMs`: its revocation line and its cool-off. One read. */
  standing(uid: string, nowMs: number): Promise<UidStanding>;
  /**
   * Refuses every new connection of the uid until `untilMs` (epoch ms), one of its connections
   * having been closed for flooding `$default`; `ms` is how long that cool-off is, remembered
   * for {@link LIMITS.floodRepeatWindowSeconds} past its end. A cool-off standing until later is
   * kept; a revocation on the same record is never shortened.
   */
  coolOff(uid: string, untilMs: number, ms: number): Promise<void>;
  /** The uid's latest cool-off, ended or not, while its record still remembers it. One read. */
  lastCoolOff(uid: string): Promise<PastCoolOff | undefined>;
}

/** A uid's latest flood cool-off. */
export interface PastCoolOff {
  /** When it ends or ended, epoch ms. */
  readonly untilMs: number;
  /** How long it was, ms. */
  readonly ms: number;
}

/** What stands against a uid's new connections, as one read found it. */
export interface UidStanding {
  /** Tokens issued at or before this second (epoch) are refused. */
  readonly revokedBefore?: number;
  /** No connection of the uid is let in before this time (epoch ms). */
  readonly coolOffUntil?: number;
}

/** A uid's revocation as it stands: tokens issued at or before `before` are refused. */
export interface RevocationLine {
  /** Epoch seconds. */
  readonly before: number;
  /** When the line was written, epoch ms. */
  readonly revokedAt: number;
}
