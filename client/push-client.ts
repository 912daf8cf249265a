import { backoffDelay } from './backoff.js';
import { Dedup, UID_STREAM } from './dedup.js';
import { PushClientError } from './errors.js';
import {
  BAD_REQUEST,
  CONNECTION_LIMIT,
  EPOCH_PATTERN,
  FORBIDDEN,
  GONE,
  IDLE_TIMEOUT_MS,
  INSTANCE_PARAM,
  MAX_CONNECTION_MS,
  RATE_LIMITED,
  TOKEN_PARAM,
  TOPIC_PATTERN,
  UNAVAILABLE,
} from './protocol.js';
import { OPEN, type WebSocketConstructor, type WebSocketLike } from './socket.js';

/**
 * A random id for one client object: 24 hex digits from the platform's CSPRNG (in browsers
 * outside a secure context too, unlike `randomUUID`); without one, `Math.random`, as it only
 * orders evictions among a user's own sockets.
 */
/**
 * An epoch a frame names, if it is one the server could have drawn; anything else (a buggy or
 * hostile server's) is ignored: kept, it would be sent back in every resume, which the server
 * refuses as `bad_request`.
 */
function serverEpoch(value: unknown): string | undefined {
  return typeof value === 'string' && EPOCH_PATTERN.test(value) ? value : undefined;
}

/**
 * A numeric option, or its default, from 1 to `max`. A timing option (`max` a timer's 2^31 - 1 ms)
 * is a timer's delay, so 0 (a ping, a redial or a backoff as fast as the event loop turns) and
 * anything past a timer's limit (which fires at once) would have the client flood the server, and
 * be closed for it. `dedupSize` 0 or `NaN` would turn dedup off or keep every id.
 */
function checked<K extends keyof PushClientOptions>(
  options: PushClientOptions,
  name: K,
  fallback: number,
  max = 2 ** 31 - 1,
): number {
  const value = options[name] ?? fallback;
  if (!((value as number) >= 1 && (value as number) <= max))
    throw new TypeError(`${name} must be 1 to ${max}, got ${value}`);
  return value as number;
}

function instanceId(): string {
  // It only tells this client's sockets from its uid's other clients' (whose tokens it does not
  // hold), so Math.random is enough, and needs no Web Crypto (React Native has none).
  return Array.from({ length: 24 }, () => ((Math.random() * 16) | 0).toString(16)).join('');
}

/** Connection state, as `status` events report it. */
export type PushStatus = 'connecting' | 'open' | 'reconnecting' | 'closed';

/** A pushed message, exactly as the server sent it. */
export interface PushMessage<T = unknown> {
  readonly type: 'message';
  /** The publish id; a publisher may reuse one on purpose, and it is delivered once. */
  readonly id: string;
  /** Set only on topic pushes. */
  readonly topic?: string;
  /**
   * Position in the message's stream, on logged messages: the uid's own stream for messages to a
   * uid, the topic's for a topic that keeps history. What resume counts from.
   */
  readonly seq?: number;
  /**
   * The stream's epoch, with `seq`: the server draws a new one when a stream is reset and counts
   * from 1 again, so seqs are only compared within one epoch.
   */
  readonly epoch?: string;
  readonly data: T;
  /** Publish time, epoch milliseconds. */
  readonly ts: number;
}

/** Events and what their listeners receive. */
export interface PushClientEvents<T = unknown> {
  /** A message, never one already delivered. */
  message: PushMessage<T>;
  /** The state changed; `open` again after `reconnecting` means the outage is over. */
  status: PushStatus;
  /** Something failed; the client carries on until `close()`. */
  error: PushClientError;
  /**
   * The server could not replay everything missed (its log no longer reaches back, or the stream
   * was reset and its epoch changed): refetch the state the messages describe. `seq` is the server's latest; `topic` is set
   * when the gap is in a topic's history rather than the uid's own messages.
   */
  gap: { readonly seq: number; readonly topic?: string };
}

/** Where to connect, how to authenticate, and the timing knobs (the defaults suit API Gateway). */
export interface PushClientOptions {
  /** WebSocket URL without the token, e.g. `wss://{api}.execute-api.{region}.amazonaws.com/prod`. */
  readonly url: string;
  /**
   * The token, or a function returning one. A function is called again before every (re)connect,
   * so a short-lived token can be refreshed.
   */
  readonly token: string | (() => string | Promise<string>);
  /**
   * WebSocket implementation. Node 20 has no global one: pass `WebSocket` from the `ws` package.
   * @default globalThis.WebSocket
   */
  readonly WebSocket?: WebSocketConstructor;
  /**
   * After this long without sending a ping or a subscribe, send a ping, however many messages
   * arrive meanwhile. Those two frames are what tells the server the client is still there
   * (presence counts a connection online only if it was seen within API Gateway's 10-minute idle
   * timeout), and a ping keeps the socket open past that timeout. Half of it leaves room for
   * browsers that delay timers in background tabs.
   * @default 300_000 (5 minutes)
   */
  readonly heartbeatMs?: number;
  /**
   * How long a socket may take to open, and a ping to be answered by any frame, before the socket
   * counts as dead; and how long frames in flight wait for a reply before their replies are taken
   * as lost (their subscribes are sent again, and those waiting their turn go out).
   * @default 15_000
   */
  readonly timeoutMs?: number;
  /**
   * Open a fresh socket after this long, ahead of API Gateway's 2-hour hard close. The old socket
   * stays open until the new one has answered its resume and subscriptions, and `timeoutMs` more
   * for pushes already on their way to it.
   * @default 6_900_000 (1 h 55 min)
   */
  readonly rotateAfterMs?: number;
  /**
   * First reconnect delay ceiling; it doubles per failed attempt, and starts from here again only
   * once a socket has answered its handshake and stayed up for `backoffCapMs`. @default 1000
   */
  readonly backoffBaseMs?: number;
  /** Largest reconnect delay ceiling. @default 30_000 */
  readonly backoffCapMs?: number;
  /**
   * Message ids remembered for dedup, and seqs held above a missing one before it is given up on:
   * 1 to 10,000 (anything else throws `TypeError`). @default 1000
   */
  readonly dedupSize?: number;
  /**
   * How long a live message that skipped a seq waits for the missing one. Two publishes to one
   * uid at the same moment can cross on their way; past this wait the client asks the server for
   * the missing seq (a resume from the hole), then hands over what it holds in seq order.
   * @default 500
   */
  readonly reorderMs?: number;
  /**
   * Where the uid's own stream starts: the first connection resumes from here, so it receives what
   * the server logged for the uid while no connection was open. Pass a {@link PushClient.seq} kept
   * from an earlier session to skip what was already seen. Anything but a whole number from 0
   * throws `TypeError`: the server would refuse every resume from it.
   * @default 0 (everything the server still keeps)
   */
  readonly since?: number | undefined;
  /**
   * The epoch `since` was taken in: a {@link PushClient.epoch} kept with it. If the server's
   * stream has been reset since, the first resume says `gap` and replays the new epoch instead
   * of trusting a cursor that numbers nothing in it. An empty string counts as none (what a store
   * that kept no epoch may give back); anything else outside `[A-Za-z0-9_-]{1,32}` throws
   * `TypeError`.
   * @default none: `since` is trusted as it is
   */
  readonly epoch?: string | undefined;
  /** Random source for backoff jitter, in `[0, 1)`. @default Math.random */
  readonly random?: () => number;
}

/** How to subscribe; see {@link PushClient.subscribe}. */
export interface SubscribeOptions {
  /** Resume the topic's history after this seq. @default none: only pushes from now on */
  readonly since?: number | undefined;
  /**
   * The epoch `since` was taken in: a {@link PushClient.epochOf} kept with it. An empty string
   * counts as none; anything else outside `[A-Za-z0-9_-]{1,32}` throws `TypeError`. @default none
   */
  readonly epoch?: string | undefined;
}

/**
 * An epoch option as the client keeps it: none for `undefined` or `""` (what a store that kept no
 * epoch may give back), else one the server could have drawn. Anything else would be sent on
 * every resume and refused there (`bad_request`), losing the resume, so it throws here.
 */
function checkedEpoch(epoch: string | undefined): string | undefined {
  if (epoch === undefined || epoch === '') return undefined;
  if (!EPOCH_PATTERN.test(epoch)) {
    throw new TypeError(`invalid epoch ${JSON.stringify(epoch)}`);
  }
  return epoch;
}

/**
 * A seq as the server counts them: a whole number from 0, exact as a double. A frame whose seq is
 * anything else (a buggy or hostile server's) must not become the cursor: a fraction or a string
 * would make it `NaN`, which the app would keep and send back as `since`.
 */
const isSeq = (value: unknown): value is number => Number.isSafeInteger(value) && (value as number) >= 0;

/** A `since` option: none, or a seq (else it would be sent on every resume and refused there). */
function checkedSince(since: number | undefined): number | undefined {
  if (since !== undefined && !isSeq(since))
    throw new TypeError(`since must be a non-negative integer, got ${since}`);
  return since;
}

/** A live push connection; create one with {@link createPushClient}. */
export interface PushClient<T = unknown> {
  /** Current state. */
  readonly status: PushStatus;
  /**
   * Every message of the uid's own stream up to this seq was delivered. Keep it (e.g. in
   * `localStorage`) and pass it as `since` to a later client to skip what was already seen.
   */
  readonly seq: number;
  /**
   * The epoch {@link PushClient.seq} belongs to, once the server named one. Keep it with `seq`
   * and pass both back (`since`, `epoch`): a cursor is only meaningful in its epoch.
   */
  readonly epoch: string | undefined;
  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof PushClientEvents<T>>(
    type: K,
    listener: (event: PushClientEvents<T>[K]) => void,
  ): () => void;
  /**
   * Subscribes to a topic, now and after every reconnect. Throws `TypeError` on an invalid name.
   *
   * For a topic that keeps history, `since` is a {@link PushClient.seqOf} kept from an earlier
   * session: the topic is resumed from there at once, so what was published to it in between
   * arrives and nothing already seen comes again. Without it, the topic starts with the next push.
   */
  subscribe(topic: string, options?: SubscribeOptions): void;
  /**
   * Every message of the topic's stream up to this seq was delivered; `undefined` until a message
   * showed that the topic keeps history (or it was subscribed with a `since`). Keep it with
   * {@link PushClient.seq} and pass it back as `subscribe(topic, { since })`.
   */
  seqOf(topic: string): number | undefined;
  /** The epoch {@link PushClient.seqOf} belongs to; keep it with that seq. */
  epochOf(topic: string): string | undefined;
  /** Stops a subscription. */
  unsubscribe(topic: string): void;
  /** Closes for good: no more events after `status: 'closed'`. */
  close(): void;
}

/**
 * Connects to the push API and keeps the connection alive: reconnects with capped, fully jittered
 * backoff; replaces the socket before API Gateway's 2-hour limit without a gap; pings every heartbeat;
 * reconnects with a fresh token at once when the server says the token expired;
 * re-subscribes and resumes after every reconnect; never delivers a message twice.
 *
 * @example
 * const client = createPushClient<Order>({
 *   url: 'wss://abc123.execute-api.eu-west-1.amazonaws.com/prod',
 *   token: () => fetch('/push-token').then((r) => r.json()).then((b) => b.token),
 * });
 * client.on('message', (m) => showOrder(m.data));
 * client.on('status', (s) => (badge.textContent = s));
 * client.on('gap', () => reloadOrders());
 * client.subscribe('orders');
 */
export function createPushClient<T = unknown>(options: PushClientOptions): PushClient<T> {
  return new Client<T>(options);
}

type Timer = ReturnType<typeof setTimeout>;

/** One socket and what the client tracks about it. */
interface Link {
  readonly ws: WebSocketLike;
  /** Set once the socket opened. */
  open?: boolean;
  /**
   * Frames sent on this socket still owed a reply (every client frame gets at most one: one may be
   * lost, see {@link Link.stall}).
   */
  owed: number;
  /** The socket once answered everything it had been sent (its handshake first). */
  ready?: boolean;
  /**
   * The implementation's last `error` event: `ws` names a refused handshake's status in its
   * message (`Unexpected server response: 401`), which its close event (1006) does not.
   */
  error?: unknown;
  /**
   * `unavailable` and `rate_limited` answers (and replays that stalled) since the last replay that
   * got somewhere: the backoff before asking again.
   */
  fails: number;
  /** Fires to send again what was answered `unavailable`. */
  redo?: Timer;
  /** What the redo sends again: the topics whose frames failed, {@link UID_STREAM} for the uid's resume. */
  readonly failed: Set<string>;
  /** Fires a ping once the socket has been idle long enough. */
  idle?: Timer;
  /**
   * Set while a ping is unanswered (its `pong` or topic-less error not yet in), for at most the
   * reply timeout: the uid's resume waits for it. Errors of both carry no topic and the server may
   * answer the two in either order, so only one of them is ever in flight.
   */
  pinging?: Timer;
  /** The heartbeat fell due while the uid's resume was in flight: the ping goes once it is answered. */
  pingDue?: boolean;
  /** Fires when the socket has not opened, or not answered a ping, in time. */
  deadline?: Timer;
  /** Fires when it is time to replace the socket before the 2-hour limit. */
  rotate?: Timer;
  /**
   * Fires once the socket has stayed up, ready, for the backoff's cap: only then does the next
   * reconnect start from the first delay again.
   */
  calm?: Timer;
  /**
   * The stream whose resume is in flight on this socket. The server runs one replay per
   * connection at a time (it refuses a second with `rate_limited`), so resumes take turns.
   */
  resuming?: string;
  /**
   * The topic whose resume is in flight, when an error about it came while its subscribe was
   * unanswered too: the error was taken as the subscribe's, but may have been the resume's, the
   * subscribe still in flight. The topic's next answer says which: its `subscribed` means the
   * resume was answered already, so its turn ends then.
   */
  doubt?: string;
  /** The `since` of the resume in flight. */
  asked?: number;
  /** The epoch the resume in flight was sent with, which the replay may replace before its answer. */
  askedEpoch?: string;
  /** Resumes waiting for their turn: stream → since. */
  readonly queued: Map<string, number>;
  /** Per stream, a resume to send later: after a `rate_limited`, or to look again after `latest`. */
  readonly later: Map<string, Timer | undefined>;
  /** Topics whose last frame on this socket was a subscribe. */
  readonly subscribed: Set<string>;
  /**
   * Topics subscribed on this socket whose subscribe has had no answer of its own yet: what a
   * frame API Gateway answered itself (a throttle) may have been, so what is sent again then.
   */
  readonly awaited: Set<string>;
  /**
   * Topics in {@link Link.failed} only because a frame API Gateway answered itself may have been
   * their subscribe: one whose own answer comes after all is not sent again, and the socket is
   * ready only once none is left.
   */
  readonly refused: Set<string>;
  /**
   * Subscribes and unsubscribes waiting for room among the frames in flight on this socket (at most
   * {@link TOPIC_FRAMES_IN_FLIGHT}), in the order the app made them: topic → the frame. One entry
   * per topic, its net change: a subscribe and an unsubscribe of the same topic both still waiting
   * cancel out, as neither ever reached the server.
   */
  readonly outbox: Map<string, 'subscribe' | 'unsubscribe'>;
  /**
   * Fires when frames are owed and none has been answered for `timeoutMs`: their replies were
   * lost (a route reply API Gateway drops for a client that reads too slowly), and would otherwise
   * hold the outbox, and a replacement's readiness, until the socket closes.
   */
  stall?: Timer;
}

/**
 * Frames a socket has in flight before a subscribe or unsubscribe waits for a reply. API Gateway
 * runs a connection's frames concurrently, each in an invocation of `$default`, whose concurrency
 * is reserved (50 by default): a reconnect sending a subscribe per topic at once, 100 at the
 * connection's cap, found most of them answered `Internal server error` by API Gateway itself,
 * and sent them again, several times over. Ten in flight keep one client's handshake well inside
 * the function's concurrency, and well inside the frame allowance of its connection, at the cost
 * of a round trip per ten topics.
 */
export const TOPIC_FRAMES_IN_FLIGHT = 10;

type Inbound =
  | PushMessage
  | { type: 'messages'; messages: PushMessage[] }
  | {
      type: 'resumed';
      topic?: string;
      seq: number;
      epoch?: string;
      latest?: number;
      gap?: boolean;
      more?: boolean;
    }
  | { type: 'error'; code: PushClientError['code']; message: string; topic?: string }
  | { type: 'kicked'; reason?: string }
  | { type: 'expired' }
  | { type: 'pong'; seq?: number; epoch?: string }
  | { type: 'subscribed' | 'unsubscribed' };

/** A client → server frame. */
type OutboundFrame = { readonly action: string } & Record<string, unknown>;

type Listeners<T> = { [K in keyof PushClientEvents<T>]?: Set<(event: PushClientEvents<T>[K]) => void> };

const ignore = () => {};

/** Orders held messages by seq (a message without one counts as 0). */
const bySeq = (a: { seq?: number }, b: { seq?: number }) => (a.seq ?? 0) - (b.seq ?? 0);

class Client<T> implements PushClient<T> {
  readonly #url: string;
  readonly #token: PushClientOptions['token'];
  readonly #WebSocket: WebSocketConstructor;
  readonly #heartbeatMs: number;
  readonly #timeoutMs: number;
  readonly #rotateAfterMs: number;
  readonly #baseMs: number;
  readonly #capMs: number;
  readonly #random: () => number;
  readonly #dedup: Dedup;
  /** Per stream, the highest seq handed to the app in order. */
  readonly #order = new Map<string, number>();
  /** Streams with a resume in flight: their replay may still fill holes below a live message. */
  readonly #replaying = new Set<string>();
  /** Live messages that overtook a replay or skipped a seq, held until the hole below them fills. */
  readonly #held = new Map<string, PushMessage<T>[]>();
  readonly #reorderMs: number;
  /** Per stream holding messages outside a replay: when to ask the server for the hole. */
  readonly #holes = new Map<string, Timer | undefined>();
  /**
   * Per stream with a resume in flight: when to stop waiting for its answer. A backend that fails
   * without an answer (API Gateway's own error frame has no `type`) must not hold the stream.
   */
  readonly #resumeDeadlines = new Map<string, Timer | undefined>();
  /**
   * Per stream, the latest seq a `resumed` reported beyond its replay and this client already
   * resumed once more for: it is not asked for again until a higher one shows up.
   */
  readonly #lookedAgain = new Map<string, number>();
  /**
   * Per stream, the epoch it had when a reset was seen and left to a resume to tell, until a `gap`
   * of the stream is told: its resumes ask in that epoch, so the server answers `gap` to whichever
   * one it answers. A resume refused for now, a socket lost before the answer, or an answer written
   * before the reset would otherwise leave the retry to ask in the new epoch and hear no gap.
   */
  readonly #owed = new Map<string, string>();
  /** False once the server turned resume down: it has no log, so holes never fill. */
  #ordered = true;
  readonly #topics = new Set<string>();
  /** Topics subscribed or unsubscribed since the last flush of topic frames (see #changed). */
  readonly #changed = new Set<string>();
  /** Per event type, made at its first listener. */
  #listeners: Listeners<T> = {};
  #status: PushStatus = 'connecting';
  /** The socket in use. */
  #current: Link | undefined;
  /** A socket being opened or readied, to take over from `#current` (or to be the first). */
  #next: Link | undefined;
  /** A replaced socket, still delivering what was already on its way to it. */
  #old: Link | undefined;
  /** Waiting for the token function. */
  #dialing = false;
  #retry: Timer | undefined;
  /** Failed attempts since a socket last stayed up, ready, for the backoff's cap. */
  #attempt = 0;
  /**
   * No `since` was given and the uid stream has not been resumed yet: the app has just loaded its
   * state, so a log that no longer reaches back to seq 0 is no gap for it.
   */
  #fresh: boolean;
  /** Names every socket of this client to the server (see INSTANCE_PARAM). */
  readonly #instance = instanceId();

  constructor(options: PushClientOptions) {
    // Checked here, where a mistake can throw; later it could only fail quietly in a retry loop.
    if (!/^wss?:$/.test(new URL(options.url).protocol))
      throw new TypeError(`url must start with ws:// or wss://, got ${options.url}`);
    this.#url = options.url;
    this.#token = options.token;
    // Half the idle timeout (a shift: esbuild folds no division, and it is an integer either way).
    this.#heartbeatMs = checked(options, 'heartbeatMs', IDLE_TIMEOUT_MS >> 1);
    this.#timeoutMs = checked(options, 'timeoutMs', 15_000);
    // Five minutes before the hard close, written as one literal: esbuild folds no `5 * 60 * 1000`.
    this.#rotateAfterMs = checked(options, 'rotateAfterMs', MAX_CONNECTION_MS - 300_000);
    this.#baseMs = checked(options, 'backoffBaseMs', 1000);
    this.#capMs = checked(options, 'backoffCapMs', 30_000);
    this.#random = options.random ?? Math.random;
    this.#dedup = new Dedup(
      checked(options, 'dedupSize', 1000, 1e4),
      checkedSince(options.since) ?? 0,
      checkedEpoch(options.epoch),
      // Too many seqs waited above a hole and it was stepped over: what it held is lost to the app.
      // Not the uid stream's before a session without `since` has its first answer: none is owed.
      (stream, seq) => (stream || !this.#fresh) && this.#gap(stream, seq),
    );
    this.#reorderMs = checked(options, 'reorderMs', 500);
    this.#fresh = options.since === undefined;
    // Last, so that a mistake in another option is not hidden behind this one in Node 20.
    const WebSocketClass = options.WebSocket ?? (globalThis.WebSocket as WebSocketConstructor | undefined);
    if (!WebSocketClass)
      throw new TypeError('no global WebSocket: pass the WebSocket option (e.g. from "ws")');
    this.#WebSocket = WebSocketClass;
    // Deferred so listeners added right after creation see `connecting`.
    queueMicrotask(() => {
      if (this.#status === 'closed') return;
      this.#emit('status', 'connecting');
      void this.#dial();
    });
  }

  get status(): PushStatus {
    return this.#status;
  }

  get seq(): number {
    return this.#dedup.cursor(UID_STREAM) ?? 0;
  }

  get epoch(): string | undefined {
    return this.#dedup.epoch(UID_STREAM);
  }

  on<K extends keyof PushClientEvents<T>>(
    type: K,
    listener: (event: PushClientEvents<T>[K]) => void,
  ): () => void {
    // biome-ignore lint/suspicious/noAssignInExpressions: made here, at the type's first listener
    const listeners = (this.#listeners[type] ??= new Set() as Listeners<T>[K]) as Set<
      (event: PushClientEvents<T>[K]) => void
    >;
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  seqOf(topic: string): number | undefined {
    return this.#dedup.cursor(topic);
  }

  epochOf(topic: string): string | undefined {
    return this.#dedup.epoch(topic);
  }

  subscribe(topic: string, options: SubscribeOptions = {}): void {
    if (!TOPIC_PATTERN.test(topic)) throw new TypeError(`invalid topic ${JSON.stringify(topic)}`);
    const since = checkedSince(options.since);
    const epoch = checkedEpoch(options.epoch);
    if (this.#topics.has(topic)) return;
    this.#topics.add(topic);
    if (since !== undefined) this.#dedup.start(topic, since, epoch);
    this.#change(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.#topics.delete(topic)) return;
    this.#dedup.forget(topic);
    // Whatever it held or was about to ask for is no longer wanted; a later subscribe starts over.
    clearTimeout(this.#holes.get(topic));
    clearTimeout(this.#resumeDeadlines.get(topic));
    this.#holes.delete(topic);
    this.#resumeDeadlines.delete(topic);
    this.#held.delete(topic);
    this.#order.delete(topic);
    this.#replaying.delete(topic);
    this.#lookedAgain.delete(topic);
    this.#owed.delete(topic);
    this.#change(topic);
  }

  /**
   * Sends a topic's change at the end of the current task, as one frame per socket for the net
   * change: the server runs a connection's frames concurrently, in no set order, so a subscribe,
   * an unsubscribe and a subscribe sent together (a view mounted, unmounted and mounted again in
   * one go, as React's StrictMode does) could leave the topic unsubscribed while this client goes
   * on waiting for its messages. Sent at the end of the task, they are one subscribe, or nothing.
   */
  #change(topic: string): void {
    if (this.#changed.size === 0) queueMicrotask(() => this.#flushTopics());
    this.#changed.add(topic);
  }

  #flushTopics(): void {
    const topics = [...this.#changed];
    this.#changed.clear();
    for (const link of [this.#current, this.#next]) {
      if (!link?.open) continue;
      for (const topic of topics) {
        const wanted = this.#topics.has(topic);
        if (wanted === link.subscribed.has(topic)) continue;
        if (wanted) {
          this.#subscribeOn(link, topic);
        } else {
          link.subscribed.delete(topic);
          link.awaited.delete(topic);
          if (link.refused.delete(topic)) link.failed.delete(topic);
          this.#topicFrame(link, 'unsubscribe', topic);
        }
      }
    }
  }

  /**
   * Subscribes one socket to `topic`, and resumes it if this client has a place in it, once the
   * subscribe is sent (see {@link TOPIC_FRAMES_IN_FLIGHT}).
   */
  #subscribeOn(link: Link, topic: string): void {
    link.subscribed.add(topic);
    this.#topicFrame(link, 'subscribe', topic);
  }

  /**
   * Sends a topic's subscribe or unsubscribe now if fewer than {@link TOPIC_FRAMES_IN_FLIGHT}
   * frames are in flight on the socket, else queues it behind the others. A queued frame of the
   * same topic is replaced by this one's net effect: the opposite cancels it, the same is already
   * on its way. A subscribe that cancels a queued unsubscribe leaves the server's subscription as
   * it was, but still asks for what the topic missed, as a subscribe sent would.
   */
  #topicFrame(link: Link, action: 'subscribe' | 'unsubscribe', topic: string): void {
    const waiting = link.outbox.get(topic);
    if (waiting !== undefined) {
      if (waiting === action) return;
      link.outbox.delete(topic);
      // A subscribe cancelling an unsubscribe that never went out: the topic's last subscribe sent
      // may still be unanswered (the unsubscribe forgot it), so one API Gateway answers itself
      // sends it again; if it was answered, once more is harmless. What the topic missed is still
      // asked for, as a subscribe sent would.
      if (action === 'subscribe') {
        link.awaited.add(topic);
        this.#resume(link, topic);
      }
      return;
    }
    if (link.owed >= TOPIC_FRAMES_IN_FLIGHT || link.redo !== undefined) link.outbox.set(topic, action);
    else this.#sendTopicFrame(link, action, topic);
  }

  #sendTopicFrame(link: Link, action: 'subscribe' | 'unsubscribe', topic: string): void {
    this.#send(link, { action, topic });
    // Noted after the send, which never answers within the call (a socket's events come in tasks
    // of their own), the same as a cancelled unsubscribe's subscribe above. The resume goes only
    // with a since: a topic without one has no place in its stream to resume from yet.
    if (action === 'subscribe') {
      link.awaited.add(topic);
      this.#resume(link, topic);
    }
  }

  /**
   * A frame on this socket was answered: sends what waits in its outbox while there is room, and
   * says whether the socket has now answered everything it was sent (nothing owed or waiting, no
   * refused subscribe left to send again).
   */
  #answered(link: Link, settled = 1): boolean {
    // A reply that comes after its frame was given up on (see #stalled) settles nothing more.
    link.owed = Math.max(0, link.owed - settled);
    this.#sendWaiting(link);
    clearTimeout(link.stall);
    link.stall = undefined;
    if (link.owed > 0) this.#awaitReplies(link);
    return link.owed <= 0 && link.outbox.size === 0 && link.refused.size === 0;
  }

  /**
   * Sends what waits in the outbox while there is room, unless the socket is backing off (a frame
   * was refused, `rate_limited` or `unavailable`, or answered by API Gateway itself, and
   * {@link Link.redo} will send it again): a reply that frees room then must not send the next
   * frame straight into the same refusal, which would add up to the allowance's close.
   */
  #sendWaiting(link: Link): void {
    if (link.redo !== undefined) return;
    for (const [topic, action] of link.outbox) {
      if (link.owed >= TOPIC_FRAMES_IN_FLIGHT || link.ws.readyState !== OPEN) break;
      link.outbox.delete(topic);
      this.#sendTopicFrame(link, action, topic);
    }
  }

  /** Gives the frames owed on this socket `timeoutMs` from now for their next reply. */
  #awaitReplies(link: Link): void {
    link.stall ??= this.#after(() => this.#stalled(link), this.#timeoutMs);
  }

  /**
   * No reply for `timeoutMs` with frames owed: their replies are taken as lost, as if API Gateway
   * had answered each itself (#refusedByGateway): the subscribes among them are sent again after a
   * backoff (a subscribe is idempotent), and the outbox goes on. A resume has its own deadline and
   * a ping its heartbeat timeout.
   */
  #stalled(link: Link): void {
    link.stall = undefined;
    if (link.owed > 0) this.#refusedByGateway(link, link.owed);
  }

  close(): void {
    if (this.#status === 'closed') return;
    clearTimeout(this.#retry);
    for (const timers of [this.#holes, this.#resumeDeadlines]) {
      timers.forEach(clearTimeout);
      timers.clear();
    }
    for (const link of [this.#current, this.#next, this.#old]) if (link) this.#retire(link);
    this.#current = this.#next = this.#old = undefined;
    this.#setStatus('closed');
    // No event after `closed`, even from the rest of a batch a listener closed the client in the
    // middle of (held messages being released); this also lets the listeners go.
    this.#listeners = {};
  }

  /** Fetches a token and opens a socket as `#next`, unless one is already on its way. */
  async #dial(): Promise<void> {
    if (this.#dialing || this.#next || this.#retry) return;
    this.#dialing = true;
    let token: string;
    try {
      token = typeof this.#token === 'string' ? this.#token : await this.#token();
    } catch (cause) {
      if (this.#status !== 'closed') this.#fail('token_failed', 'the token function failed', cause);
      this.#backOff();
      return;
    } finally {
      this.#dialing = false;
    }
    if (this.#status === 'closed') return;
    let ws: WebSocketLike;
    try {
      // Inside: a token function that resolved to no string (a Symbol) fails here, not unseen.
      const url = new URL(this.#url);
      url.searchParams.set(TOKEN_PARAM, token);
      url.searchParams.set(INSTANCE_PARAM, this.#instance);
      ws = new this.#WebSocket(url.href);
    } catch (cause) {
      // A browser refuses synchronously when, say, a Content-Security-Policy forbids the host.
      this.#fail('socket_closed', 'the socket could not be created', cause);
      this.#backOff();
      return;
    }
    const link: Link = {
      ws,
      owed: 0,
      fails: 0,
      queued: new Map(),
      later: new Map(),
      subscribed: new Set(),
      awaited: new Set(),
      refused: new Set(),
      failed: new Set(),
      outbox: new Map(),
    };
    this.#next = link;
    link.deadline = this.#after(
      () => this.#drop(link, 'socket_closed', 'socket did not open in time'),
      this.#timeoutMs,
    );
    ws.onopen = () => this.#opened(link);
    ws.onmessage = (event: { data: unknown }) => this.#received(link, String(event.data));
    ws.onclose = (event: { code: number }) =>
      this.#drop(link, 'socket_closed', `socket closed (${event.code})`);
    // Kept as the cause of the error the close raises. Browsers reveal nothing in it (the close
    // carries what they do); in Node, ws says why, such as the status of a refused handshake: 401
    // for the token, 403 for the path (or, on the local stack, a page origin it refuses).
    ws.onerror = (event: unknown) => (link.error = event);
  }

  #opened(link: Link): void {
    clearTimeout(link.deadline);
    link.deadline = undefined;
    link.open = true;
    this.#idleFrom(link);
    this.#handshake(link);
    // With nothing to hand over from, the new socket serves at once; a replacement waits for its
    // replies so that no topic push can fall between the two sockets.
    if (!this.#current) this.#promote(link);
    if (!link.owed) this.#ready(link);
  }

  #received(link: Link, text: string): void {
    let frame: Inbound;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    clearTimeout(link.deadline);
    link.deadline = undefined;
    if (frame !== null && typeof frame === 'object' && !('type' in frame) && 'message' in frame) {
      this.#resumeRefusedByGateway(link);
      this.#refusedByGateway(link);
      return;
    }
    // A subscribe's answer names its topic (`subscribed`, or an error about it). So does the
    // answer to the topic's resume, which the server may give first: the two run concurrently. An
    // error about a topic whose resume is in flight is taken as the resume's only once the
    // subscribe has had its answer; before, as the subscribe's. Taken as the resume's, it would
    // send the next resume while this one's replay may still run, which the server refuses
    // (`rate_limited`, a replay already running), each refusal spending the frame allowance.
    const answered = (frame as { topic?: unknown } | null)?.topic;
    // A `bad_request` naming it is the resume's whatever the subscribe's state: a subscribe of a
    // name TOPIC_PATTERN let through is never one (the server refuses a topic that keeps no history
    // before any I/O, so that answer often comes before the subscribe's own).
    const resumeError =
      frame?.type === 'error' &&
      typeof answered === 'string' &&
      link.resuming === answered &&
      (!link.awaited.has(answered) || frame.code === BAD_REQUEST);
    if (
      typeof answered === 'string' &&
      (frame.type === 'subscribed' || (frame.type === 'error' && !resumeError))
    ) {
      link.awaited.delete(answered);
      // It was not the frame API Gateway answered: nothing to send again for it (an error that
      // asks for it puts it back below).
      if (link.refused.delete(answered)) link.failed.delete(answered);
      if (link.resuming === answered) {
        // The subscribe's error, or the resume's with the subscribe still in flight.
        if (frame.type === 'error') link.doubt = answered;
        else if (link.doubt === answered) this.#doubtSettled(link, answered);
      }
    }
    switch (frame?.type) {
      case 'message':
        this.#message(frame);
        return;
      case 'messages':
        // A replay packs many messages into one frame; each is handled as if it came alone.
        if (Array.isArray(frame.messages)) for (const message of frame.messages) this.#message(message);
        return;
      case 'resumed': {
        const { topic, seq } = frame;
        if (topic !== undefined && typeof topic !== 'string') return;
        const stream = topic ?? UID_STREAM;
        const asked = link.resuming === stream ? link.asked : undefined;
        // Read before the next resume's turn replaces it; only looked at with `asked`, which is
        // this stream's resume's.
        const askedEpoch = link.askedEpoch;
        this.#resumeAnswered(link, stream);
        // The answer to a topic's resume sent before it was unsubscribed: its turn is over, and
        // nothing of the topic is kept any more.
        if (topic !== undefined && !this.#topics.has(topic)) break;
        if (!isSeq(seq)) {
          // An answer, but one that says nothing usable about where the stream stands.
          this.#replayed(stream);
          break;
        }
        // A new epoch starts the stream over at 0; the replay (if any came) already did so.
        const epoch = serverEpoch(frame.epoch);
        if (epoch !== undefined) this.#epochSeen(stream, epoch);
        if (frame.gap && seq < (this.#dedup.cursor(stream) ?? 0)) {
          // The server's stream counts from 1 again (its log was reset): what this client saw no
          // longer numbers anything, and the new seqs must not be dropped as repeats.
          this.#dedup.reset(seq, topic, epoch);
          this.#order.set(stream, seq);
          this.#held.delete(stream);
          this.#lookedAgain.delete(stream);
        } else if (frame.gap) this.#dedup.skipGap(seq, topic);
        // The uid stream's first answer in a session without `since` owes the app no gap, not
        // even for a reset seen live before it: the app had no place in the stream to lose.
        if (topic === undefined && this.#fresh) {
          this.#fresh = false;
          this.#owed.delete(stream);
        } else if (frame.gap) this.#gap(stream, seq);
        // A publish had taken a seq beyond the replay and was still writing it (the replay stops
        // before a seq missing below stored ones); it normally comes live, but if its post missed
        // this socket, one more resume shortly after finds it. Until then the stream stays in its
        // replay, so what arrives live above it is held, and reaches the app in seq order.
        // Once per such seq: a seq whose publish failed before writing it never comes (a heartbeat
        // whose `seq` is past the cursor asks again later).
        // One look per position, as a tail still being written and as a hole below stored seqs
        // apart: on a busy stream each answer has a new `latest`, and looking at each would hold
        // every live message for as long as the hole lasts.
        const position = (frame.latest as number) > seq + 1 ? ~seq : seq;
        const looking =
          !frame.more &&
          isSeq(frame.latest) &&
          frame.latest > seq &&
          this.#lookedAgain.get(stream) !== position;
        if (looking) {
          this.#lookedAgain.set(stream, position);
          this.#later(link, stream, this.#reorderMs);
        }
        // The server replays in pages; a full page means there is more after its `seq`. That seq,
        // not the cursor, is where to go on: a hole in the page would stall the cursor.
        // A stream reset since the position asked from counts from 1 again: a page of it ends
        // below that position, and is progress all the same. Only an epoch the server could have
        // drawn says so: any other string differs from every epoch asked with, and a server
        // answering each resume with one, `more` and no progress, was asked again at once, forever.
        const reset = frame.gap && epoch !== undefined && epoch !== askedEpoch;
        const stalled = frame.more && !reset && asked !== undefined && seq <= asked;
        if (stalled) {
          // More, yet not one seq further than asked: at once again would ask the same thing as
          // fast as the server answers (a replay that ran out of time before its first post).
          this.#later(link, stream);
          break;
        }
        // A replay that got somewhere: the backend is answering again, so the next refusal on this
        // socket backs off from the first delay, not from where earlier trouble left the count.
        link.fails = 0;
        if (frame.more) {
          this.#resume(link, stream, seq);
        } else {
          // Past a gap nothing below `seq` is coming: the next live message is not a hole.
          if (frame.gap) this.#order.set(stream, Math.max(this.#order.get(stream) ?? 0, seq));
          if (!looking) this.#replayed(stream);
        }
        break;
      }
      case 'error': {
        // Read defensively: a frame missing them must not throw out of the socket's handler.
        const text = typeof frame.message === 'string' ? frame.message : '';
        // The error may answer the resume in flight (it carries the same topic, which is
        // resumeError above, or none for the uid stream): its turn is over either way.
        const stream = link.resuming;
        const answersResume = resumeError || (frame.topic === undefined && stream === UID_STREAM);
        // The topic it names, when a string (a hostile server's may be anything). With
        // answersResume, there is one exactly when resumeError holds, and it is `stream`.
        const topic = typeof frame.topic === 'string' ? frame.topic : undefined;
        // A topic's error while its resume is in flight, its subscribe answered already and no
        // unsubscribe of it since: the resume's. Sending the subscribe again with it would double
        // the frames of every resume the budget refuses (70 of a handshake's 100 topics), past the
        // connection's frame allowance.
        // Read for `rate_limited` only, where resumeError already says that the subscribe is not
        // unanswered.
        const resumeOnly = resumeError && link.subscribed.has(topic as string);
        if (answersResume) {
          this.#resumeAnswered(link, stream as string);
          // Refused for now (another replay ran, the budget is spent, or the connection sent too
          // many frames): ask again later. A topic's whose subscribe may be what was refused is
          // asked again with its subscribe, below.
          if (frame.code === RATE_LIMITED && (topic === undefined || resumeOnly)) {
            this.#later(link, stream as string);
          }
          // A topic's resume (the uid stream's name is empty) refused as asked: the topic keeps no
          // history, or no longer does. The same would be refused on every reconnect: the topic
          // stays subscribed, unresumed.
          if (frame.code === BAD_REQUEST && stream) {
            this.#dedup.forget(stream);
            this.#replayed(stream);
          }
        }
        // A server without resume answers it as an unknown action: go on without it, silently.
        if (frame.code === BAD_REQUEST && text.includes('unknown action "resume"')) {
          this.#ordered = false;
          this.#replayed(frame.topic ?? UID_STREAM);
          break;
        }
        // The server lost this connection's record: nothing more will reach it.
        if (frame.code === GONE) {
          this.#drop(link, GONE, text);
          return;
        }
        // A refused topic stays refused for this token: stop asking for it on every reconnect.
        if (frame.code === FORBIDDEN && topic !== undefined) {
          this.#topics.delete(topic);
          link.subscribed.delete(topic);
        }
        this.#fail(frame.code, text, undefined, frame.topic);
        // Closed by an `error` listener: nothing is retried.
        if (this.#status === 'closed') return;
        // A backend failed mid-resume or mid-subscribe; both are safe to repeat. Only what failed
        // is (the frame's topic, else the uid stream): the whole handshake would send every
        // topic's subscribe and resume again, multiplying a struggling backend's load by them.
        // Without a topic and with no uid resume in flight, it answered a ping (the only other
        // frame whose errors carry no topic): nothing is sent again, the next heartbeat is the
        // retry. A retry on the backoff would have every idle client ping every few seconds
        // through an outage, many times the heartbeat's load, and the uid's resume more still.
        //
        // A `rate_limited` with a topic ran nothing (the connection sent more frames than its
        // allowance, or the topic's resume was refused): the subscribe, unsubscribe or resume it
        // answered is sent again after the backoff, the topic's net state (subscribed or not) as
        // for `unavailable`. One without a topic answered the uid resume (asked again above) or a
        // ping (the next heartbeat asks again).
        if (
          (frame.code === UNAVAILABLE && (topic !== undefined || answersResume)) ||
          (frame.code === RATE_LIMITED && topic !== undefined && !resumeOnly)
        ) {
          link.failed.add(topic ?? UID_STREAM);
          if (topic !== undefined) link.refused.delete(topic);
          this.#redoLater(link);
        }
        // Topic-less and not the uid resume's: the ping's answer, so the resume waiting for it may go.
        if (frame.topic === undefined && !answersResume) this.#pingAnswered(link);
        break;
      }
      case 'kicked':
        // Evicted for this client's own new socket (a rollover while the uid is at its connection
        // cap): the replacement carries on, and resumes what the old one may have missed.
        if (frame.reason === CONNECTION_LIMIT && this.#beingReplaced(link)) {
          this.#retire(link);
          if (link === this.#old) this.#old = undefined;
          // With a replacement on its way, nothing needs opening here. The server accepted it
          // (that is why it evicted this one) and it opens next: the client is not reconnecting.
          else this.#handOver(link, true);
          return;
        }
        // Only a string is a reason: an Error's message is its ToString, which throws for an
        // object whose toString is no function (`{"toString":0}`), out of the socket's handler.
        this.#fail('kicked', typeof frame.reason === 'string' ? frame.reason : 'kicked by the server');
        this.close();
        return;
      case 'expired':
        this.#expired(link);
        return;
      case 'pong':
        // The ping's touch and log read went through: the backend answers again, so the next
        // refusal on this socket backs off from the first delay (as after a replay that got somewhere).
        link.fails = 0;
        this.#pingAnswered(link);
        if (isSeq(frame.seq)) this.#compare(link, frame.seq, serverEpoch(frame.epoch));
        break;
      case 'subscribed':
      case 'unsubscribed':
        break;
      default:
        return;
    }
    if (this.#answered(link)) this.#ready(link);
  }

  /**
   * API Gateway answered one of this socket's frames itself (`{"message":"Too Many Requests",…}`
   * past a route's throttle, `Internal server error` when the function could not run): the frame
   * ran nothing, or failed, and the answer does not say which frame it was. It is the reply owed
   * to one of them. A subscribe still unanswered may be it, and would otherwise leave the topic
   * unsubscribed on this socket until the next reconnect, so those are sent again after a backoff
   * (the subscribe is idempotent; one answered meanwhile is not); the socket is ready only once
   * they are answered. A resume that was the only frame in flight is asked again
   * (#resumeRefusedByGateway); otherwise a resume or ping has its own deadline and heartbeat.
   */
  #refusedByGateway(link: Link, settled = 1): void {
    // A subscribe whose topic's error may have been its resume's may be the one it answered too.
    if (link.doubt !== undefined && this.#topics.has(link.doubt)) link.awaited.add(link.doubt);
    for (const topic of link.awaited) {
      if (!link.failed.has(topic)) link.refused.add(topic);
      link.failed.add(topic);
    }
    link.awaited.clear();
    if (link.failed.size > 0) this.#redoLater(link);
    if (this.#answered(link, settled)) this.#ready(link);
  }

  /**
   * API Gateway answered a frame itself while the resume in flight is the only frame this socket
   * is owed a reply for (no subscribe unanswered; a ping is never in flight with the uid's resume,
   * and a topic's resume with a ping in flight would owe two): the answer is the resume's. It ran
   * nothing (a throttle) or failed (`Internal server error`), so its turn ends and it is asked
   * again after the socket's backoff, as after `rate_limited`; what the stream holds waits for
   * that replay, each resume sent giving it `timeoutMs` more. Left to its deadline, nothing would
   * ask again: the uid's gap would wait for the next pong's seq (up to a heartbeat), a topic's for
   * its next message. Replies #stalled gives up on are not answers: their resumes keep their deadline.
   */
  #resumeRefusedByGateway(link: Link): void {
    const stream = link.resuming;
    if (stream === undefined || link.owed !== 1 || link.awaited.size > 0) return;
    // The topic's error may have been this resume's, and this answer its subscribe's (#refusedByGateway
    // sends those again).
    if (link.doubt === stream) link.awaited.add(stream);
    this.#resumeAnswered(link, stream);
    this.#later(link, stream);
  }

  /**
   * The topic's subscribe was answered after an error about it that was taken as the subscribe's
   * (see {@link Link.doubt}): that error was the resume's, so its turn is over. One that asked for
   * the subscribe again, not sent yet, asks for the resume alone instead; one sent already took the
   * resume with it (#resume queues it while in doubt).
   */
  #doubtSettled(link: Link, topic: string): void {
    if (link.failed.delete(topic)) {
      this.#later(link, topic);
    }
    this.#resumeAnswered(link, topic);
  }

  /** Sends again, after a backoff, what {@link Link.failed} holds, unless a redo is already due. */
  #redoLater(link: Link): void {
    link.redo ??= this.#after(
      () => {
        link.redo = undefined;
        const streams = [...link.failed];
        link.failed.clear();
        link.refused.clear();
        for (const stream of streams) {
          if (stream === UID_STREAM) this.#resume(link, UID_STREAM);
          else if (this.#topics.has(stream)) this.#subscribeOn(link, stream);
          // No longer wanted, yet its frame was refused: it may have been the unsubscribe, which
          // ran nothing, so the server would keep the topic (unsubscribing twice is harmless).
          else if (!link.subscribed.has(stream)) this.#topicFrame(link, 'unsubscribe', stream);
        }
        this.#sendWaiting(link);
        // Nothing was sent again (the topics are no longer wanted): nothing is owed any more.
        if (link.owed <= 0 && link.outbox.size === 0 && link.failed.size === 0 && !link.ready)
          this.#ready(link);
      },
      backoffDelay(link.fails++, this.#random, this.#baseMs, this.#capMs),
    );
  }

  #message(frame: PushMessage): void {
    if (frame?.type !== 'message' || typeof frame.id !== 'string') return;
    // From here on, a seq is absent or a seq.
    if (frame.seq !== undefined && !isSeq(frame.seq)) return;
    if (frame.topic !== undefined && !this.#topics.has(frame.topic)) {
      // A topic this client does not hold (unsubscribed while the push was on its way, or named
      // by a server that breaks the contract): handed over once, by id, with no place kept in its
      // stream, which would be state kept for every such name and never forgotten. A topic that
      // is no string is never held, and dropped.
      if (typeof frame.topic === 'string' && this.#dedup.accept(frame.id))
        this.#emit('message', frame as PushMessage<T>);
      return;
    }
    const stream = frame.topic ?? UID_STREAM;
    const epoch = serverEpoch(frame.epoch);
    if (frame.seq !== undefined && epoch !== undefined && this.#epochSeen(stream, epoch)) {
      // The stream was reset while this client was reading it: what the app holds describes the
      // old stream, and the new one's earlier seqs may have missed this socket. A resume in flight
      // (on this socket or the one replacing it) is answered with `gap` and replays them;
      // otherwise, waiting to look again included (that look would ask in the new epoch, and hear
      // no gap), say so and ask for them now, from the start.
      const link = this.#current;
      if ((!this.#replaying.has(stream) || link?.later.has(stream)) && link?.open) {
        this.#gap(stream, frame.seq);
        this.#resume(link, stream, 0);
      }
    }
    if (this.#dedup.accept(frame.id, frame.seq, frame.topic)) this.#arrived(frame as PushMessage<T>);
    else if (frame.seq !== undefined) this.#passed(stream, frame.seq);
  }

  /**
   * A repeat of a delivered id under the next seq due (a retried topic publish logs its message
   * again): the seq is done, so what waits above it may go, instead of waiting for a hole that no
   * message will fill.
   */
  #passed(stream: string, seq: number): void {
    if (this.#order.get(stream) !== seq - 1) return;
    this.#order.set(stream, seq);
    this.#release(stream);
  }

  /**
   * The server named the stream's epoch. A first one is noted; another than the one noted means
   * the stream was reset and counts from 1 again: start it over at 0 in the new epoch (nothing
   * held or looked for in the old one is coming) and return true.
   */
  #epochSeen(stream: string, epoch: string): boolean {
    const known = this.#dedup.epoch(stream);
    if (known === epoch) return false;
    if (known === undefined) {
      this.#dedup.adopt(stream, epoch);
      return false;
    }
    // The first epoch left: an answer from before the reset moves the stream back, not the debt.
    if (!this.#owed.has(stream)) this.#owed.set(stream, known);
    this.#dedup.reset(0, stream, epoch);
    this.#order.set(stream, 0);
    this.#held.delete(stream);
    this.#lookedAgain.delete(stream);
    return true;
  }

  /** What every new socket sends: resume the uid stream, subscribe and resume each topic. */
  #handshake(link: Link): void {
    this.#resume(link, UID_STREAM);
    for (const topic of this.#topics) this.#subscribeOn(link, topic);
  }

  /**
   * Asks for what a stream missed, if this client has a place in it: always for the uid stream,
   * and for a topic once a message showed that it keeps history. Resumes take turns per socket.
   */
  #resume(link: Link, stream: string, since = this.#dedup.cursor(stream)): void {
    if (since === undefined) return;
    this.#replaying.add(stream);
    this.#resumeDeadline(stream);
    if (!this.#order.has(stream)) this.#order.set(stream, since);
    clearTimeout(link.later.get(stream));
    link.later.delete(stream);
    // One in flight covers it, unless its answer may have come already (see Link.doubt).
    if (link.resuming !== stream || link.doubt === stream) link.queued.set(stream, since);
    this.#pump(link);
  }

  /** Gives the stream's resume `timeoutMs` to be answered, from now. */
  #resumeDeadline(stream: string): void {
    clearTimeout(this.#resumeDeadlines.get(stream));
    this.#resumeDeadlines.set(
      stream,
      this.#after(() => {
        // No answer in time: let the stream's held messages go, and the next resume have its turn.
        this.#replayed(stream);
        for (const other of [this.#current, this.#next]) if (other) this.#resumeAnswered(other, stream);
      }, this.#timeoutMs),
    );
  }

  /**
   * Sends the next queued resume, unless one is in flight on this socket; the uid's waits while a
   * ping is unanswered.
   */
  #pump(link: Link): void {
    if (link.resuming !== undefined) return;
    let next: [string, number] | undefined;
    for (const entry of link.queued) {
      if (entry[0] === UID_STREAM && link.pinging !== undefined) continue;
      next = entry;
      break;
    }
    if (next === undefined) return;
    const [stream, since] = next;
    link.queued.delete(stream);
    link.resuming = stream;
    // A resume that waited out its deadline in the queue (the uid's behind a topic's, then behind
    // an unanswered ping) gets one again: with none, a lost answer would hold this socket's
    // resumes, and every ping after it (see #ping), until the socket closes.
    if (!this.#resumeDeadlines.has(stream)) this.#resumeDeadline(stream);
    link.asked = since;
    // The epoch the cursor belongs to, so a reset stream is told apart however far it has grown;
    // the one before a reset not told yet, so the server tells it.
    const epoch = this.#owed.get(stream) ?? this.#dedup.epoch(stream);
    link.askedEpoch = epoch;
    // Sent as JSON, which leaves out what is undefined: no topic for the uid's, no epoch before one.
    this.#send(link, { action: 'resume', since, topic: stream || undefined, epoch });
  }

  /** The resume of `stream` on this socket got its answer (or gave up waiting): the next one's turn. */
  #resumeAnswered(link: Link, stream: string): void {
    if (link.resuming !== stream) return;
    link.resuming = undefined;
    link.doubt = undefined;
    if (stream === UID_STREAM && link.pingDue) {
      link.pingDue = false;
      this.#ping(link);
    }
    this.#pump(link);
  }

  /** The ping in flight was answered (or its wait ran out): a uid resume may go. */
  #pingAnswered(link: Link): void {
    if (link.pinging === undefined) return;
    clearTimeout(link.pinging);
    link.pinging = undefined;
    this.#pump(link);
  }

  /**
   * Resumes `stream` on this socket after `ms` (by default the socket's next backoff), unless
   * something resumes it sooner.
   */
  #later(
    link: Link,
    stream: string,
    ms = backoffDelay(link.fails++, this.#random, this.#baseMs, this.#capMs),
  ): void {
    clearTimeout(link.later.get(stream));
    link.later.set(
      stream,
      this.#after(() => {
        link.later.delete(stream);
        if (link.open && (stream === UID_STREAM || this.#topics.has(stream))) this.#resume(link, stream);
      }, ms),
    );
  }

  /**
   * A pong carries the uid stream's latest seq. One past the stream's cursor (every seq up to it
   * delivered) means a message missed this socket (its post failed, or the publish looked up the
   * uid's connections before the index showed this one), or a hole below messages already shown
   * has not been filled yet: resume, once a heartbeat, until the server replays it or answers
   * `gap`. One below what it has seen, or another epoch, means the stream was reset: the resume's
   * answer says so.
   */
  #compare(link: Link, latest: number, epoch: string | undefined): void {
    if (!this.#ordered || link !== this.#current || this.#replaying.has(UID_STREAM)) return;
    const highest = this.#dedup.highest(UID_STREAM) ?? 0;
    const mine = this.#dedup.epoch(UID_STREAM);
    const reset = epoch !== undefined && mine !== undefined && epoch !== mine;
    if (latest > (this.#dedup.cursor(UID_STREAM) ?? 0) || latest < highest || reset)
      this.#resume(link, UID_STREAM);
  }

  /**
   * Hands a new message to the app in seq order. A message past the next seq due waits: for the
   * replay while a resume of its stream is in flight, else for `reorderMs`, after which the hole is
   * asked for (`#fillHole`).
   */
  #arrived(message: PushMessage<T>): void {
    const stream = message.topic ?? UID_STREAM;
    const last = this.#order.get(stream);
    if (message.seq !== undefined && last !== undefined && message.seq > last + 1 && this.#ordered) {
      const held = this.#held.get(stream) ?? [];
      held.push(message);
      this.#held.set(stream, held);
      if (!this.#replaying.has(stream) && !this.#holes.has(stream)) {
        this.#holes.set(
          stream,
          this.#after(() => this.#fillHole(stream), this.#reorderMs),
        );
      }
      return;
    }
    this.#deliver(stream, message);
    this.#release(stream);
  }

  /** Hands over the held messages of a stream that are now next in seq order. */
  #release(stream: string): void {
    const held = this.#held.get(stream);
    if (!held) return;
    held.sort(bySeq);
    while (held.length > 0 && (held[0]?.seq ?? 0) <= (this.#order.get(stream) ?? 0) + 1) {
      this.#deliver(stream, held.shift() as PushMessage<T>);
    }
    if (held.length > 0) return;
    this.#held.delete(stream);
    clearTimeout(this.#holes.get(stream));
    this.#holes.delete(stream);
  }

  /**
   * A hole stayed open for `reorderMs`: the message may have failed on its way to this socket
   * while its log entry is there. A resume from the hole brings it (and its answer lets the held
   * messages go, hole or not); with no open socket they wait for the next one's resume.
   */
  #fillHole(stream: string): void {
    this.#holes.delete(stream);
    if (!this.#held.has(stream) || this.#replaying.has(stream)) return;
    const link = this.#current;
    // With no open socket, the next one's handshake resumes the stream, and its answer lets go.
    if (!link?.open) return;
    const since = Math.max(this.#order.get(stream) ?? 0, this.#dedup.cursor(stream) ?? 0);
    this.#resume(link, stream, since);
  }

  #deliver(stream: string, message: PushMessage<T>): void {
    if (message.seq !== undefined)
      this.#order.set(stream, Math.max(this.#order.get(stream) ?? 0, message.seq));
    this.#emit('message', message);
  }

  /** A stream's replay is over: whatever is still held goes out, in seq order, holes and all. */
  #replayed(stream: string): void {
    this.#replaying.delete(stream);
    clearTimeout(this.#resumeDeadlines.get(stream));
    this.#resumeDeadlines.delete(stream);
    clearTimeout(this.#holes.get(stream));
    this.#holes.delete(stream);
    const held = this.#held.get(stream);
    if (!held) return;
    this.#held.delete(stream);
    for (const message of held.sort(bySeq)) this.#deliver(stream, message);
  }

  /** A socket answered everything it was sent. */
  #ready(link: Link): void {
    link.owed = 0;
    clearTimeout(link.stall);
    link.stall = undefined;
    link.ready = true;
    // Not at once: a server or proxy that drops every socket right after its handshake would
    // otherwise have its whole fleet of clients reconnect every second, for ever.
    link.calm ??= this.#after(() => (this.#attempt = 0), this.#capMs);
    if (link !== this.#next) return;
    const old = this.#current;
    this.#promote(link);
    if (old) this.#drain(old);
  }

  /**
   * Keeps a replaced socket open a little longer: a publish that picked its targets before the new
   * socket subscribed is still delivering to the old one. Dedup absorbs what both receive.
   */
  #drain(old: Link): void {
    if (this.#old) this.#retire(this.#old);
    this.#old = old;
    clearTimeout(old.rotate);
    old.rotate = this.#after(() => {
      this.#retire(old);
      this.#old = undefined;
    }, this.#timeoutMs);
  }

  #promote(link: Link): void {
    this.#current = link;
    this.#next = undefined;
    link.rotate = this.#after(() => void this.#dial(), this.#rotateAfterMs);
    this.#setStatus('open');
  }

  /** True for a socket a newer one of this client is taking over from, or has taken over from. */
  #beingReplaced(link: Link): boolean {
    return link === this.#old || (link === this.#current && this.#next !== undefined);
  }

  /** A socket died or was given up on. */
  #drop(link: Link, code: PushClientError['code'], message: string): void {
    if (link !== this.#current && link !== this.#next) return;
    this.#retire(link);
    this.#fail(code, message, link.error);
    if (this.#handOver(link)) this.#backOff();
  }

  /**
   * Lets go of a retired socket: a replacement takes over if there is one. True when nothing
   * does and the caller must open a new socket itself. `accepted`: the server already took the
   * replacement still opening, so the status stays as it is until that opens or fails.
   */
  #handOver(link: Link, accepted = false): boolean {
    if (link === this.#next) {
      this.#next = undefined;
      // The socket it was to replace is gone already (evicted for it): nothing serves any more.
      if (this.#current === undefined && this.#status === 'open') this.#setStatus('reconnecting');
      return true;
    }
    this.#current = undefined;
    const next = this.#next;
    // A replacement already open takes over even before its replies are in.
    if (next?.open) {
      this.#promote(next);
      return false;
    }
    if (!(accepted && next)) this.#setStatus('reconnecting');
    // A replacement still opening (or fetching its token) will become current when it opens.
    return !(next || this.#dialing);
  }

  /**
   * The server ended a socket because its token passed `exp`. Nothing is wrong, so no backoff and
   * no `error` event: a fresh token is fetched at once and the new socket's handshake resumes from
   * the last seq seen, so what was published meanwhile to the uid (or a topic with history) arrives.
   * Only a socket that expired before answering its handshake waits a backoff (see below).
   */
  #expired(link: Link): void {
    if (link !== this.#current && link !== this.#next) return;
    this.#retire(link);
    if (!this.#handOver(link)) return;
    // Expired before it answered its handshake: the token function handed out a token at its very
    // end, and may hand the same one back. At once again would loop as fast as the server answers.
    if (!link.ready) {
      this.#backOff();
      return;
    }
    clearTimeout(this.#retry);
    this.#retry = undefined;
    void this.#dial();
  }

  #backOff(): void {
    if (this.#status === 'closed' || this.#retry) return;
    const delay = backoffDelay(this.#attempt++, this.#random, this.#baseMs, this.#capMs);
    this.#retry = this.#after(() => {
      this.#retry = undefined;
      void this.#dial();
    }, delay);
  }

  /** Stops everything about a socket and closes it; its late events are ignored. */
  #retire(link: Link): void {
    for (const timer of [
      link.idle,
      link.deadline,
      link.pinging,
      link.rotate,
      link.redo,
      link.stall,
      link.calm,
      ...link.later.values(),
    ])
      clearTimeout(timer);
    link.later.clear();
    link.queued.clear();
    const ws = link.ws;
    ws.onopen = ws.onmessage = ws.onclose = ignore;
    ws.close(1000);
  }

  #send(link: Link, frame: OutboundFrame): void {
    if (link.ws.readyState !== OPEN) return;
    link.ws.send(JSON.stringify(frame));
    link.owed++;
    this.#awaitReplies(link);
    // The server moves the connection's lastSeenAt on these two only.
    if (frame.action === 'ping' || frame.action === 'subscribe') this.#idleFrom(link);
  }

  /** The server just saw this socket: the next ping is due a full heartbeat from now. */
  #idleFrom(link: Link): void {
    clearTimeout(link.idle);
    link.idle = this.#after(() => this.#ping(link), this.#heartbeatMs);
  }

  /** Pings now, or once the uid's resume in flight is answered (see {@link Link.pinging}). */
  #ping(link: Link): void {
    if (link.resuming === UID_STREAM) {
      link.pingDue = true;
      return;
    }
    this.#send(link, { action: 'ping' });
    clearTimeout(link.pinging);
    link.pinging = this.#after(() => this.#pingAnswered(link), this.#timeoutMs);
    // The first unanswered ping's: a later one must not move it on, nor leave it running unseen.
    link.deadline ??= this.#after(
      () => this.#drop(link, 'heartbeat_timeout', `no reply to ping within ${this.#timeoutMs} ms`),
      this.#timeoutMs,
    );
  }

  #setStatus(status: PushStatus): void {
    // Closed is for good, even when an `error` listener closed the client mid-drop.
    if (this.#status === status || this.#status === 'closed') return;
    this.#status = status;
    this.#emit('status', status);
  }

  #fail(code: PushClientError['code'], message: string, cause?: unknown, topic?: string): void {
    // No `cause` key without one: the standard Error puts even an undefined one on the error.
    // PushClientError sets `topic` only when there is one.
    const options = cause === undefined ? { topic } : { cause, topic };
    // The cause's own message, when it is a string, so that `e.code, e.message` alone says why:
    // `fetch failed` from a token function, or ws's `Unexpected server response: 401`.
    const why = (cause as { message?: unknown } | null | undefined)?.message;
    // biome-ignore lint/style/useTemplate: the concatenation gzips 3 bytes smaller, within the budget
    if (typeof why === 'string') message += ': ' + why;
    this.#emit('error', new PushClientError(code, message, options));
  }

  /**
   * A timer, or none once the client is closed: a listener may close it in the middle of a frame,
   * and what the rest of that frame does must leave nothing running (a Node process would wait).
   */
  #after(run: () => void, ms: number): Timer | undefined {
    return this.#status === 'closed' ? undefined : setTimeout(run, ms);
  }

  /** Tells the app a stream's messages up to `seq` may be missing (a topic's, or the uid's). */
  #gap(stream: string, seq: number): void {
    this.#owed.delete(stream);
    this.#emit('gap', stream ? { seq, topic: stream } : { seq });
  }

  #emit<K extends keyof PushClientEvents<T>>(type: K, event: PushClientEvents<T>[K]): void {
    for (const listener of this.#listeners[type] ?? []) {
      try {
        listener(event);
      } catch (error) {
        // A throwing listener must not break the connection logic; report it like the DOM does.
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
