import { type AwsClientOptions, lazySender, requireName, sdkConfig } from './aws.js';
import { fromSdkError, PushApiError } from './errors.js';
import type {
  BatchResult,
  ErrorCode,
  KickResult,
  PublishBody,
  PublishOutcome,
  PublishStatus,
  TopicPresence,
  UidPresence,
  UidsPresence,
} from './wire.js';

/**
 * Publishes and administers through the publish function, with its answer: every method resolves
 * to the function's result, or throws a {@link PushApiError} carrying the wire `code` of whatever
 * refused or failed the call.
 */
export interface Publisher {
  /** Delivers one message; a topic or broadcast above the shard threshold is queued instead. */
  publish<T>(body: PublishBody<T>): Promise<PublishOutcome>;
  /** Up to the batch limit of publishes in one call, each answered in order. */
  batch(bodies: readonly PublishBody[]): Promise<BatchResult>;
  /** Whether a uid is online, and its connections. */
  presence(query: { readonly uid: string }): Promise<UidPresence>;
  /** Which of several uids are online. */
  presence(query: { readonly uids: readonly string[] }): Promise<UidsPresence>;
  /** How many connections and uids a topic has. */
  presence(query: { readonly topic: string }): Promise<TopicPresence>;
  /**
   * Closes every connection of a uid, each told `{"type":"kicked","reason":…}` first. Given a
   * string, that is the reason. With `revoke: true` the uid's tokens issued until now are refused
   * from then on (the answer carries `revoked: true`): sign the user a new token a second later.
   * The line is this host's current second (or `before`), sent as the body's `before`, so the AWS
   * SDK's retries of the call are the same kick: they leave sessions opened since alone.
   * A kick with `revoke` answers about a second later, as it looks the uid's connections up twice.
   */
  kick(uid: string, how?: string | KickOptions): Promise<KickResult>;
  /** The progress of a sharded publish; `not_found` when no sharded publish has that id. */
  status(id: string): Promise<PublishStatus>;
}

/** How {@link Publisher.kick} ends a uid's sessions. */
export interface KickOptions {
  /** Sent in the `kicked` frame each connection gets. */
  readonly reason?: string | undefined;
  /** Also refuse the uid's tokens issued until now, so a stolen one cannot reconnect. */
  readonly revoke?: boolean | undefined;
  /**
   * With `revoke`: refuse the uid's tokens issued at or before this second (epoch seconds; at
   * most 60 s ahead of the publish function's clock and 24 h behind it). Give the same value when
   * you send the same kick again yourself (from a job queue, say), so that the retry is the same
   * kick: it keeps the sessions the user opened since with newer tokens.
   * @default the current second of this host's clock, once per `kick` call
   */
  readonly before?: number | undefined;
}

/** The wire body of a kick; `nowMs` sets a revoke's line when the caller gave none. */
function kickBody(uid: string, how: string | KickOptions | undefined, nowMs: number): object {
  const { reason, revoke, before } =
    typeof how === 'string' ? { reason: how, revoke: undefined, before: undefined } : (how ?? {});
  // Fixed here, once per call: the AWS SDK sends this same body again when an answer is lost, and
  // a line taken from the function's clock at each attempt would move forward with each.
  const line = before ?? (revoke === true ? Math.floor(nowMs / 1000) : undefined);
  // Sent as given: the function refuses a `revoke` that is not a boolean, where dropping it here
  // would turn a revoke asked for by mistake (`"true"` from untyped code) into a plain kick; and a
  // `before` without `revoke`, which asks for a revocation that would not be made.
  return {
    kick: {
      uid,
      ...(reason === undefined ? {} : { reason }),
      ...(revoke === undefined ? {} : { revoke }),
      ...(line === undefined ? {} : { before: line }),
    },
  };
}

/** Sends one command body to the publish function and resolves to its parsed answer. */
export type Invoke = (body: object) => Promise<unknown>;

/**
 * Every wire code, as a record over `ErrorCode` so that a code added to the handlers fails the
 * build here until it is listed, instead of reaching callers as `internal`.
 */
const WIRE_CODE_LIST = {
  bad_request: true,
  forbidden: true,
  not_found: true,
  unauthorized: true,
  payload_too_large: true,
  gone: true,
  conflict: true,
  limit_exceeded: true,
  rate_limited: true,
  throttled: true,
  unavailable: true,
  internal: true,
} as const satisfies Record<ErrorCode, true>;
const WIRE_CODES: ReadonlySet<string> = new Set(Object.keys(WIRE_CODE_LIST));

/**
 * The control characters (`Cc`: C0, DEL and C1) and the line and paragraph separators: what a
 * terminal acts on (an ANSI escape sequence starts with ESC) and what splits a log line.
 */
const CONTROL = /[\p{Cc}\u2028\u2029]/gu;

/** Short JSON escapes for the controls a reader knows them by. */
const SHORT_ESCAPES: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * Text a server sent, fit for an error message: each control character written as its JSON escape
 * (`\u001b`), so that a message printed to a terminal or a log shows what the server sent instead
 * of doing what it says.
 */
function printable(text: string): string {
  return text.replace(
    CONTROL,
    (c) => SHORT_ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** How much of an answer that is not the publish function's a message quotes. */
const EXCERPT_CHARS = 200;

/** The start of an answer's raw text, {@link printable}, for a message saying what came instead of JSON. */
function excerpt(text: string, chars = EXCERPT_CHARS): string {
  if (text.length <= chars) return printable(text);
  // Not in the middle of a surrogate pair, which would leave half a character.
  const end = /[\uD800-\uDBFF]/.test(text.charAt(chars - 1)) ? chars - 1 : chars;
  return `${printable(text.slice(0, end))}…`;
}

/**
 * How much of a refusal's own message is kept: the publish function's are a line or two, so a
 * longer one is not its, and is cut rather than carried whole into the caller's logs.
 */
const REFUSAL_MESSAGE_CHARS = 1_000;

/** What an answer is, in words, for a message saying it is not what was expected. */
function kindOf(answer: unknown): string {
  if (answer === undefined) return 'nothing';
  if (answer === null) return 'null';
  if (Array.isArray(answer)) return 'an array';
  return typeof answer === 'object' ? 'an object' : `a ${typeof answer}`;
}

/** The `{"error":{code,message}}` the publish function answers refused input with, if that is what this is. */
function refusal(answer: unknown): PushApiError | undefined {
  const error = (answer as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  if (typeof error !== 'object' || error === null || typeof error.code !== 'string') return undefined;
  const code = WIRE_CODES.has(error.code) ? (error.code as ErrorCode) : 'internal';
  const message =
    typeof error.message === 'string'
      ? excerpt(error.message, REFUSAL_MESSAGE_CHARS)
      : `refused with ${excerpt(error.code, REFUSAL_MESSAGE_CHARS)}`;
  return new PushApiError(code, message);
}

/** The characters `JSON.stringify` leaves raw that SQS refuses in a message body. */
const RAW_BUT_REFUSED = /[\uFFFE\uFFFF]/g;

/**
 * The JSON text of a command body. Data JSON cannot carry (a `BigInt`, a cycle) is the caller's
 * mistake, found before anything is sent: `bad_request`, which no retry mends, where the
 * `TypeError` thrown inside a send would read as an unreachable function (`unavailable`).
 *
 * The noncharacters U+FFFE and U+FFFF, which `data` may hold and `JSON.stringify` leaves raw, are
 * written as the escapes `\ufffe` and `\uffff`: the same JSON to every reader, but text SQS takes.
 * An SNS message that SNS cannot hand to the function goes to the subscription's failure queue, an
 * SQS queue, which refuses a body holding either character raw: the message would be lost.
 */
function toJson(body: object): string {
  let json: string;
  try {
    json = JSON.stringify(body);
  } catch (error) {
    throw new PushApiError('bad_request', `the body cannot be sent as JSON: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return json.replace(RAW_BUT_REFUSED, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/**
 * The body with an `id`: the caller's, or a random one. Without it the function names the publish
 * after the request that carried it (the Lambda request id, the SNS message id), and the AWS SDK
 * retries a call whose answer was lost (a reset connection, a 5xx) as a new request: a publish
 * that had already run would then run again under another id, and every client would show it
 * twice. With the id in the body, every attempt of the call is the same publish.
 */
function named<B>(body: B): B {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  if ((body as { id?: unknown }).id !== undefined) return body;
  return { ...body, id: crypto.randomUUID() };
}

/** SNS's message size limit, in bytes of the message's UTF-8. */
const MAX_SNS_MESSAGE_BYTES = 256 * 1024;

/**
 * The most publishes one batch may hold: the publish function's own limit (`LIMITS.maxBatch`,
 * which a test holds this to), said here for the SNS path, where a refused batch is only logged.
 */
export const MAX_BATCH = 100;

/**
 * A {@link Publisher} over any way of reaching the publish function. The ready-made ones are
 * {@link lambdaPublisher} and {@link httpPublisher}.
 */
export function createPublisher(invoke: Invoke): Publisher {
  const call = async <R>(body: object): Promise<R> => {
    const answer = await invoke(body);
    const refused = refusal(answer);
    if (refused !== undefined) throw refused;
    // Every command answers an object; anything else (a stub's `null`, a proxy's `[]`) would reach
    // the caller as a result whose fields are all missing, and fail there as a TypeError.
    if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) {
      throw new PushApiError(
        'internal',
        `the publish function answered ${kindOf(answer)}, which is not an outcome`,
      );
    }
    return answer as R;
  };
  return {
    publish: (body) => call(named(body)),
    batch: (bodies) => call({ batch: Array.isArray(bodies) ? bodies.map(named) : bodies }),
    presence: ((query: object) => call({ presence: query })) as Publisher['presence'],
    kick: (uid, how) => call(kickBody(uid, how, Date.now())),
    status: (id) => call({ status: id }),
  };
}

/** Options for {@link lambdaPublisher}. */
export interface LambdaPublisherOptions extends AwsClientOptions {
  /** The publish function: its name or ARN (the stack's `PublishFunctionArn` output). */
  readonly functionName: string;
}

/**
 * A {@link Publisher} over Lambda `Invoke` (`@aws-sdk/client-lambda`). Lambda answers refused
 * input with status 200 and `{"error":…}` in the payload, and a function that threw with a
 * `FunctionError`; both are thrown here, the second as `unavailable` (the function throws only
 * when a dependency failed, so the same call may succeed later).
 *
 * @example
 * const push = lambdaPublisher({ functionName: process.env.PUSH_PUBLISH_FUNCTION! });
 * await push.publish({ to: { uid: 'u1' }, data: { orderId: 42 } });
 *
 * @throws TypeError when `functionName` is missing or empty (an unset environment variable).
 */
export function lambdaPublisher(options: LambdaPublisherOptions): Publisher {
  requireName('functionName', options.functionName, 'PublishFunctionArn (or PublishFunctionName)');
  const sdk = lazySender(
    { pkg: '@aws-sdk/client-lambda', clientClass: 'LambdaClient', serviceId: 'Lambda' },
    () => import('@aws-sdk/client-lambda'),
    (sdk, config) => new sdk.LambdaClient(sdkConfig(config)),
    options,
  );
  return createPublisher(async (body) => {
    const { InvokeCommand } = await sdk.module();
    const json = toJson(body);
    let out: { FunctionError?: string; Payload?: Uint8Array };
    try {
      out = (await sdk.send(
        new InvokeCommand({
          FunctionName: options.functionName,
          Payload: new TextEncoder().encode(json),
        }),
      )) as typeof out;
    } catch (error) {
      throw fromSdkError('Lambda Invoke', error);
    }
    const text = out.Payload === undefined ? '' : new TextDecoder().decode(out.Payload);
    let payload: unknown;
    try {
      payload = text === '' ? null : JSON.parse(text);
    } catch (error) {
      throw new PushApiError('internal', `the publish function answered with no JSON: ${excerpt(text)}`, {
        cause: error,
      });
    }
    if (out.FunctionError !== undefined) {
      const failure = payload as { errorType?: unknown; errorMessage?: unknown } | null;
      const cause = new Error(String(failure?.errorMessage ?? text));
      cause.name = String(failure?.errorType ?? out.FunctionError);
      const failed = printable(`${cause.name}: ${cause.message}`);
      throw new PushApiError('unavailable', `the publish function failed: ${failed}`, {
        cause,
      });
    }
    return payload;
  });
}

/**
 * The most bytes {@link httpPublisher} reads of an answer: Lambda's own limit on a synchronous
 * invocation's response payload (6 MB), so nothing the publish function can answer is longer. A
 * longer answer is not the function's, and reading it whole could exhaust this process's memory.
 */
export const MAX_ANSWER_BYTES = 6 * 1024 * 1024;

/**
 * How long {@link httpPublisher} waits, by default, for a whole answer. The local stack runs the
 * publish function with the deployment's timeout (1 minute unless `publishTimeout` says otherwise)
 * and a first invocation also waits for the function's import, which that timeout does not count:
 * 90 s lets a slow publish end with the function's own answer (its result, or its timeout error)
 * rather than with this one, and still ends a call that a stalled or trickling server would hold
 * open for ever.
 */
export const HTTP_PUBLISH_TIMEOUT_MS = 90_000;

/** The longest delay `setTimeout` keeps: a longer one fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * The environment's `AbortSignal` (Node's or the DOM's), or `unknown` where neither is typed. Found
 * through `globalThis`, as `@types/node` finds the DOM's, so that the package's types need neither
 * typing and the global `fetch` still fits {@link FetchLike}.
 */
export type AbortSignalLike = typeof globalThis extends {
  readonly AbortSignal: { readonly prototype: infer S };
}
  ? S
  : unknown;

/**
 * The part of a response body {@link httpPublisher} reads: a WHATWG `ReadableStream` of bytes, as
 * `fetch`'s `Response.body` is.
 */
export interface ByteStreamLike {
  getReader(): {
    read(): Promise<{ readonly done: boolean; readonly value?: Uint8Array | undefined }>;
    cancel(reason?: unknown): Promise<void>;
  };
}

/**
 * The part of `fetch` {@link httpPublisher} calls: Node's and the browsers' global `fetch` fit it,
 * and so does a test double. Declared here so the package's types need no DOM or Node typings.
 * The answer is read from `body` when there is one, up to {@link MAX_ANSWER_BYTES}, and from
 * `text()` otherwise; `signal` aborts when the publisher's `timeoutMs` has passed, and the
 * publisher stops waiting then even if this `fetch` does not.
 */
export type FetchLike = (
  url: string,
  init: { method: 'POST'; headers: Record<string, string>; body: string; signal: AbortSignalLike },
) => Promise<{
  readonly status: number;
  readonly ok: boolean;
  readonly body?: ByteStreamLike | AsyncIterable<unknown> | null;
  text(): Promise<string>;
}>;

/** Options for {@link httpPublisher}. */
export interface HttpPublisherOptions {
  /** The local stack, e.g. `http://127.0.0.1:3000`; `POST /publish` is appended. */
  readonly url: string;
  /** @default globalThis.fetch */
  readonly fetch?: FetchLike;
  /**
   * How long one call may take, from sending the request to the last byte of the answer; past it
   * the call is aborted and throws `unavailable`. Raise it with the stack's `publishTimeout`.
   * @default 90_000 ({@link HTTP_PUBLISH_TIMEOUT_MS})
   */
  readonly timeoutMs?: number;
}

/** Thrown inside {@link httpPublisher}'s call when its `timeoutMs` has passed. */
class TimedOut extends Error {
  override readonly name = 'TimeoutError';
}

/** Thrown inside {@link httpPublisher}'s call when the answer runs past {@link MAX_ANSWER_BYTES}. */
class TooLong extends Error {}

/**
 * `promise`, or `signal`'s reason as soon as it aborts. Each wait adds its own listener and removes
 * it once settled: racing one long-lived promise instead would keep a reaction per wait until the
 * call ends, which an answer trickled a byte at a time turns into hundreds of MB.
 */
function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

/** The next chunk of a body, whichever kind it is. */
type NextChunk = () => Promise<IteratorResult<unknown>>;

/**
 * Reads a body chunk by chunk: a WHATWG stream (`fetch`'s) through its reader, a Node stream or
 * any async iterable (node-fetch's `body`) through its iterator. `undefined` for neither.
 */
function chunksOf(body: unknown): { next: NextChunk; stop: (reason: unknown) => void } | undefined {
  if (typeof (body as ByteStreamLike | null)?.getReader === 'function') {
    const reader = (body as ByteStreamLike).getReader();
    return {
      next: () => reader.read() as Promise<IteratorResult<unknown>>,
      stop: (reason) => void reader.cancel(reason).catch(() => {}),
    };
  }
  const iterate = (body as Partial<AsyncIterable<unknown>> | null | undefined)?.[Symbol.asyncIterator];
  if (typeof iterate === 'function') {
    const iterator = iterate.call(body);
    return {
      next: () => iterator.next(),
      stop: () => void iterator.return?.()?.catch(() => {}),
    };
  }
  return undefined;
}

/**
 * The answer's text, read from its body up to {@link MAX_ANSWER_BYTES}; rejects with `signal`'s
 * reason as soon as it aborts. Decoded as `Response.text()` decodes: UTF-8, a leading BOM dropped,
 * malformed bytes replaced. A response with no body this can read is read with `text()`, held to
 * the same bound once its text is in.
 */
async function readAnswer(res: Awaited<ReturnType<FetchLike>>, signal: AbortSignal): Promise<string> {
  const chunks = chunksOf(res.body);
  if (chunks === undefined) {
    const text = await unlessAborted(res.text(), signal);
    if (new TextEncoder().encode(text).byteLength > MAX_ANSWER_BYTES) throw new TooLong();
    return text;
  }
  const parts: Uint8Array[] = [];
  let bytes = 0;
  try {
    for (;;) {
      const { done, value } = await unlessAborted(chunks.next(), signal);
      if (done) break;
      // A Node stream in string mode gives strings; fetch's gives bytes.
      const part = typeof value === 'string' ? new TextEncoder().encode(value) : value;
      if (!(part instanceof Uint8Array)) continue;
      bytes += part.byteLength;
      if (bytes > MAX_ANSWER_BYTES) throw new TooLong();
      parts.push(part);
    }
  } catch (error) {
    // Stop the transfer: `fetch` closes the connection when its body is cancelled.
    chunks.stop(error);
    throw error;
  }
  const whole = new Uint8Array(bytes);
  let at = 0;
  for (const part of parts) {
    whole.set(part, at);
    at += part.byteLength;
  }
  return new TextDecoder().decode(whole);
}

/**
 * A {@link Publisher} over the local stack's `POST /publish`, for development and tests: no AWS
 * SDK and no credentials. Deployed stacks have no such endpoint; use {@link lambdaPublisher}.
 *
 * A call that has no whole answer within `timeoutMs` is aborted and throws `unavailable`; an
 * answer longer than {@link MAX_ANSWER_BYTES}, or one that is not a JSON object, throws `internal`.
 *
 * @example
 * const push = httpPublisher({ url: 'http://127.0.0.1:3000' });
 *
 * @throws TypeError for a `url` that is not the stack's address, and RangeError for a `timeoutMs`
 * that is not a positive number of milliseconds `setTimeout` can wait.
 */
export function httpPublisher(options: HttpPublisherOptions): Publisher {
  const endpoint = `${stackUrl(options.url)}/publish`;
  const fetchFn: FetchLike = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? HTTP_PUBLISH_TIMEOUT_MS;
  if (!(typeof timeoutMs === 'number' && timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS)) {
    throw new RangeError(`timeoutMs must be a number of milliseconds above 0 and at most ${MAX_TIMER_MS}`);
  }
  return createPublisher(async (body) => {
    const json = toJson(body);
    // Every wait below ends when the timeout aborts, even with a `fetch` of the caller's that
    // ignores `signal`.
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort(new TimedOut(`no whole answer within ${timeoutMs} ms`));
    }, timeoutMs);
    let res: Awaited<ReturnType<FetchLike>>;
    let text: string;
    try {
      res = await unlessAborted(
        fetchFn(endpoint, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: json,
          signal: controller.signal,
        }),
        controller.signal,
      );
      text = await readAnswer(res, controller.signal);
    } catch (error) {
      // Whatever ended the call ends the request: `fetch` stops reading and closes the connection.
      controller.abort(error);
      if (error instanceof TooLong) {
        throw new PushApiError(
          'internal',
          `${endpoint} answered more than ${MAX_ANSWER_BYTES} bytes, which is not an outcome: the publish function answers at most Lambda's 6 MB`,
        );
      }
      if (timedOut) {
        throw new PushApiError('unavailable', `${endpoint} did not answer within ${timeoutMs} ms`, {
          cause: error,
        });
      }
      throw new PushApiError('unavailable', `no answer from ${endpoint}: ${(error as Error).message}`, {
        cause: error,
      });
    } finally {
      clearTimeout(timer);
    }
    let answer: unknown;
    try {
      answer = JSON.parse(text);
    } catch (error) {
      throw new PushApiError(
        res.status >= 500 ? 'unavailable' : 'internal',
        `${endpoint} answered ${res.status} with no JSON: ${excerpt(text)}`,
        { cause: error },
      );
    }
    if (!res.ok && refusal(answer) === undefined) {
      throw new PushApiError(
        res.status >= 500 ? 'unavailable' : 'internal',
        `${endpoint} answered ${res.status}: ${excerpt(text)}`,
      );
    }
    return answer;
  });
}

/** What SNS answers: the message's id, and the ids of the publishes it carries. */
export interface SnsReceipt {
  readonly messageId: string;
  /**
   * Each publish's `id`, in order (one for `publish`, one per item for `batch`): the caller's, or
   * the random one given to a body without its own, which `status` and the clients see.
   */
  readonly ids: readonly string[];
}

/**
 * Publishes through the stack's SNS topic: fire and forget. SNS answers as soon as it has the
 * message, so there is no delivery result, and input the publish function refuses only shows in
 * its logs (`SNS message rejected`). Presence, kick and status need an answer: use a
 * {@link Publisher}.
 */
export interface SnsPublisher {
  publish<T>(body: PublishBody<T>): Promise<SnsReceipt>;
  /** One SNS message carrying the whole batch. */
  batch(bodies: readonly PublishBody[]): Promise<SnsReceipt>;
}

/**
 * The local stack's base URL as `httpPublisher` takes it, without a trailing slash. A URL with no
 * `http(s)://`, or one that already ends in `/publish` (the banner's `POST …/publish` line), would
 * be posted to anyway and answered with a message about another path, or taken for a network
 * failure worth retrying: both are set-up mistakes, said when the publisher is made.
 */
function stackUrl(url: unknown): string {
  const base = typeof url === 'string' ? url.replace(/\/+$/, '') : '';
  if (!/^https?:\/\/[^/]/i.test(base)) {
    throw new TypeError(
      `url must be an http:// or https:// address: the local stack's, as its banner prints it (http://127.0.0.1:3000), got ${String(url)}`,
    );
  }
  if (/\/publish$/i.test(base)) {
    throw new TypeError(`url is the stack's address without /publish (which httpPublisher adds), got ${url}`);
  }
  return base;
}

/** Options for {@link snsPublisher}. */
export interface SnsPublisherOptions extends AwsClientOptions {
  /** The stack's publish topic (its `PublishTopicArn` output). */
  readonly topicArn: string;
}

/**
 * An {@link SnsPublisher} over `@aws-sdk/client-sns`.
 *
 * @example
 * const topic = snsPublisher({ topicArn: process.env.PUSH_TOPIC_ARN! });
 * await topic.publish({ to: { topic: 'orders' }, data: { orderId: 42 } });
 *
 * @throws TypeError when `topicArn` is missing or empty (an unset environment variable).
 */
export function snsPublisher(options: SnsPublisherOptions): SnsPublisher {
  requireName('topicArn', options.topicArn, 'PublishTopicArn');
  const sdk = lazySender(
    { pkg: '@aws-sdk/client-sns', clientClass: 'SNSClient', serviceId: 'SNS' },
    () => import('@aws-sdk/client-sns'),
    (sdk, config) => new sdk.SNSClient(sdkConfig(config)),
    options,
  );
  const send = async (body: object, ids: readonly string[]): Promise<SnsReceipt> => {
    const message = toJson(body);
    // SNS refuses a longer message as an `InvalidParameter` like any other; said here, it is the
    // same `payload_too_large` an Invoke over Lambda's payload limit gets.
    const bytes = new TextEncoder().encode(message).byteLength;
    if (bytes > MAX_SNS_MESSAGE_BYTES) {
      throw new PushApiError(
        'payload_too_large',
        `the message is ${bytes} bytes; SNS takes at most ${MAX_SNS_MESSAGE_BYTES}`,
      );
    }
    const { PublishCommand } = await sdk.module();
    let out: { MessageId?: string };
    try {
      out = (await sdk.send(
        new PublishCommand({ TopicArn: options.topicArn, Message: message }),
      )) as typeof out;
    } catch (error) {
      throw fromSdkError('SNS Publish', error);
    }
    if (out.MessageId === undefined) throw new PushApiError('internal', 'SNS answered without a MessageId');
    return { messageId: out.MessageId, ids };
  };
  // What SNS carries is only checked by the function, which logs and drops a message it refuses:
  // a shape that cannot be a publish is refused here, where the caller still hears of it.
  const bodyOf = (body: unknown, what: string): PublishBody => {
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      throw new PushApiError('bad_request', `${what} must be a publish body object, got ${kindOf(body)}`);
    }
    return named(body as PublishBody);
  };
  const idOf = (body: PublishBody) => String(body.id);
  return {
    publish: async (body) => {
      const sent = bodyOf(body, 'the publish');
      return send(sent, [idOf(sent)]);
    },
    batch: async (bodies) => {
      if (!Array.isArray(bodies)) {
        throw new PushApiError(
          'bad_request',
          `batch takes an array of publish bodies, got ${kindOf(bodies)}`,
        );
      }
      if (bodies.length === 0 || bodies.length > MAX_BATCH) {
        throw new PushApiError(
          'bad_request',
          `batch must hold 1 to ${MAX_BATCH} publishes, got ${bodies.length}`,
        );
      }
      const sent = bodies.map((body, i) => bodyOf(body, `batch[${i}]`));
      return send({ batch: sent }, sent.map(idOf));
    },
  };
}
