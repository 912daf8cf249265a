/**
 * One SQS standard queue, in memory: messages, the visibility timeout, receive counts and the
 * redrive policy that moves a message to a dead-letter queue. It knows nothing about Lambda; the
 * event source (event-source.ts) receives from it and deletes what the worker finished.
 */
import { createHash, randomUUID } from 'node:crypto';
import { QUOTAS } from '../../lambdas/shared/quotas';

/** A message attribute as SendMessage carries it. */
export interface SqsMessageAttribute {
  readonly DataType: string;
  readonly StringValue?: string;
  /** Base64, as the JSON protocol carries blobs. */
  readonly BinaryValue?: string;
}

/** A message as the queue holds it. */
export interface SqsMessage {
  readonly messageId: string;
  readonly body: string;
  readonly md5OfBody: string;
  readonly messageAttributes: Readonly<Record<string, SqsMessageAttribute>>;
  /** Epoch ms. */
  readonly sentTimestamp: number;
  readonly senderId: string;
  /** Receives so far (SQS's `ApproximateReceiveCount`). */
  readonly receiveCount: number;
  /** Epoch ms of the first receive, once there was one. */
  readonly firstReceiveTimestamp?: number;
}

/** A message handed out by {@link LocalSqsQueue.receive}, with the handle that deletes it. */
export interface ReceivedMessage extends SqsMessage {
  readonly receiptHandle: string;
  readonly receiveCount: number;
  readonly firstReceiveTimestamp: number;
}

/** Where the queue's messages stand. */
export interface SqsQueueCounts {
  /** Receivable now (`ApproximateNumberOfMessages`). */
  readonly visible: number;
  /** Received and not yet deleted nor visible again (`ApproximateNumberOfMessagesNotVisible`). */
  readonly inFlight: number;
  /** Sent with a delay that has not passed (`ApproximateNumberOfMessagesDelayed`). */
  readonly delayed: number;
}

/** Options for {@link LocalSqsQueue}. */
export interface LocalSqsQueueOptions {
  readonly name: string;
  readonly region: string;
  readonly accountId: string;
  /** The origin queue URLs start with, `http://127.0.0.1:3000`. */
  readonly origin: string;
  /** @default 30_000 (SQS's default) */
  readonly visibilityTimeoutMs?: number;
  /** The redrive policy: where a message goes once received `maxReceiveCount` times. @default none */
  readonly deadLetter?: { readonly queue: LocalSqsQueue; readonly maxReceiveCount: number };
  /** @default Date.now */
  readonly now?: () => number;
}

/** A message as stored: what {@link SqsMessage} shows, with the counters writable. */
interface Stored extends Omit<SqsMessage, 'receiveCount' | 'firstReceiveTimestamp'> {
  receiveCount: number;
  firstReceiveTimestamp?: number;
  visibleAt: number;
  receiptHandle?: string;
}

/** The MD5 SQS returns for a body (`MD5OfMessageBody`), which the SDK checks. */
export function md5Hex(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/** Who sent a message, as SQS reports `SenderId`; the local stack checks no credentials. */
export const LOCAL_SENDER_ID = 'AIDALOCALPUSHSTACK000';

/** What a receipt handle holds now: see {@link LocalSqsQueue.receiptState}. */
export type ReceiptState = 'inFlight' | 'visible' | 'stale';

function checkVisibility(ms: number): number {
  if (!(Number.isFinite(ms) && ms >= 0 && ms <= QUOTAS.sqsMaxVisibilitySeconds * 1000))
    throw new RangeError(`visibility timeout must be within 0..12 h, got ${ms} ms`);
  return ms;
}

function checkMaxReceiveCount(count: number): number {
  if (!(Number.isInteger(count) && count >= 1 && count <= 1000))
    throw new RangeError(`maxReceiveCount must be an integer from 1 to 1000, got ${count}`);
  return count;
}

function view(message: Stored): SqsMessage {
  return {
    messageId: message.messageId,
    body: message.body,
    md5OfBody: message.md5OfBody,
    messageAttributes: message.messageAttributes,
    sentTimestamp: message.sentTimestamp,
    senderId: message.senderId,
    receiveCount: message.receiveCount,
    ...(message.firstReceiveTimestamp === undefined
      ? {}
      : { firstReceiveTimestamp: message.firstReceiveTimestamp }),
  };
}

/**
 * A standard queue. Messages come back in the order sent when nothing else intervenes (real SQS
 * promises no order at all; nothing here relies on one).
 *
 * @example
 * const dlq = new LocalSqsQueue({ name: 'jobs-dlq', region, accountId, origin });
 * const queue = new LocalSqsQueue({ name: 'jobs', region, accountId, origin,
 *   deadLetter: { queue: dlq, maxReceiveCount: 5 } });
 * queue.send('{"id":"p1"}');
 */
export class LocalSqsQueue {
  readonly name: string;
  readonly arn: string;
  readonly url: string;
  readonly #messages = new Map<string, Stored>();
  readonly #listeners = new Set<() => void>();
  readonly #deadLetter: LocalSqsQueue | undefined;
  readonly #now: () => number;
  #visibilityTimeoutMs: number;
  #maxReceiveCount: number | undefined;
  #sent = 0;
  #deleted = 0;
  #movedToDeadLetter = 0;

  constructor(options: LocalSqsQueueOptions) {
    this.name = options.name;
    this.arn = `arn:aws:sqs:${options.region}:${options.accountId}:${options.name}`;
    this.url = `${options.origin}/${options.accountId}/${options.name}`;
    this.#visibilityTimeoutMs = checkVisibility(options.visibilityTimeoutMs ?? 30_000);
    this.#deadLetter = options.deadLetter?.queue;
    this.#maxReceiveCount =
      options.deadLetter === undefined ? undefined : checkMaxReceiveCount(options.deadLetter.maxReceiveCount);
    this.#now = options.now ?? Date.now;
  }

  /** How long a received message stays invisible. Changeable, as SetQueueAttributes allows. */
  get visibilityTimeoutMs(): number {
    return this.#visibilityTimeoutMs;
  }

  set visibilityTimeoutMs(ms: number) {
    this.#visibilityTimeoutMs = checkVisibility(ms);
  }

  /** The redrive policy's `maxReceiveCount`; undefined without a dead-letter queue. */
  get maxReceiveCount(): number | undefined {
    return this.#maxReceiveCount;
  }

  set maxReceiveCount(count: number | undefined) {
    if (this.#deadLetter === undefined) throw new Error(`queue ${this.name} has no dead-letter queue`);
    if (count === undefined) throw new RangeError('a queue with a dead-letter queue needs a maxReceiveCount');
    this.#maxReceiveCount = checkMaxReceiveCount(count);
  }

  /** Where the redrive policy sends messages; undefined without one. */
  get deadLetterQueue(): LocalSqsQueue | undefined {
    return this.#deadLetter;
  }

  /** Messages held, whatever their state. */
  get size(): number {
    return this.#messages.size;
  }

  /** Lifetime counters. */
  get totals(): { readonly sent: number; readonly deleted: number; readonly movedToDeadLetter: number } {
    return { sent: this.#sent, deleted: this.#deleted, movedToDeadLetter: this.#movedToDeadLetter };
  }

  counts(now = this.#now()): SqsQueueCounts {
    let visible = 0;
    let inFlight = 0;
    let delayed = 0;
    for (const message of this.#messages.values()) {
      if (message.visibleAt <= now) visible++;
      else if (message.receiptHandle !== undefined) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed };
  }

  /** Every message held, oldest first (for inspecting a dead-letter queue). */
  messages(): SqsMessage[] {
    return [...this.#messages.values()].map(view);
  }

  /** Calls `listener` whenever a message is added or made visible; returns the unsubscribe function. */
  onMessage(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Adds a message (SendMessage); it becomes visible after `delayMs`. */
  send(
    body: string,
    options: { delayMs?: number; messageAttributes?: Record<string, SqsMessageAttribute> } = {},
  ): SqsMessage {
    const now = this.#now();
    const message: Stored = {
      messageId: randomUUID(),
      body,
      md5OfBody: md5Hex(body),
      messageAttributes: options.messageAttributes ?? {},
      sentTimestamp: now,
      senderId: LOCAL_SENDER_ID,
      receiveCount: 0,
      visibleAt: now + (options.delayMs ?? 0),
    };
    this.#add(message);
    return view(message);
  }

  /**
   * Receives up to `max` visible messages: each is hidden for the visibility timeout, counts one
   * more receive and gets a fresh receipt handle. A message already received `maxReceiveCount`
   * times moves to the dead-letter queue instead, as SQS's redrive does on the next receive.
   */
  receive(max: number): ReceivedMessage[] {
    const now = this.#now();
    const received: ReceivedMessage[] = [];
    for (const message of [...this.#messages.values()]) {
      if (received.length >= max) break;
      if (message.visibleAt > now) continue;
      if (
        this.#deadLetter !== undefined &&
        this.#maxReceiveCount !== undefined &&
        message.receiveCount >= this.#maxReceiveCount
      ) {
        this.#messages.delete(message.messageId);
        this.#movedToDeadLetter++;
        this.#deadLetter.#add({ ...message, visibleAt: now, receiptHandle: undefined });
        continue;
      }
      message.receiveCount++;
      message.firstReceiveTimestamp ??= now;
      message.visibleAt = now + this.#visibilityTimeoutMs;
      message.receiptHandle = `${message.messageId}#${randomUUID()}`;
      received.push({
        ...view(message),
        receiptHandle: message.receiptHandle,
        receiveCount: message.receiveCount,
        firstReceiveTimestamp: message.firstReceiveTimestamp,
      });
    }
    return received;
  }

  /**
   * Deletes the message a receipt handle belongs to. As in SQS, only the latest receive's handle
   * deletes: an older one succeeds without effect. Resolves to whether a message went away.
   */
  delete(receiptHandle: string): boolean {
    const messageId = receiptHandle.slice(0, receiptHandle.indexOf('#'));
    const message = this.#messages.get(messageId);
    if (message?.receiptHandle !== receiptHandle) return false;
    this.#messages.delete(messageId);
    this.#deleted++;
    return true;
  }

  /**
   * ChangeMessageVisibility: hides the message of a receipt handle for `timeoutMs` from now (0
   * makes it visible at once). False when the handle is not the latest receive's, or the message
   * is gone.
   */
  changeVisibility(receiptHandle: string, timeoutMs: number): boolean {
    checkVisibility(timeoutMs);
    const message = this.#messages.get(receiptHandle.slice(0, receiptHandle.indexOf('#')));
    if (message?.receiptHandle !== receiptHandle) return false;
    message.visibleAt = this.#now() + timeoutMs;
    for (const listener of this.#listeners) listener();
    return true;
  }

  /**
   * Where the message of a receipt handle stands: `inFlight` (hidden since the receive that gave
   * the handle), `visible` (its visibility timeout passed, and nothing received it again), or
   * `stale` (received again since, so a newer handle holds it, or gone).
   */
  receiptState(receiptHandle: string, now = this.#now()): ReceiptState {
    const message = this.#messages.get(receiptHandle.slice(0, receiptHandle.indexOf('#')));
    if (message?.receiptHandle !== receiptHandle) return 'stale';
    return message.visibleAt > now ? 'inFlight' : 'visible';
  }

  /** The earliest time a hidden message becomes visible; undefined when none is hidden. */
  nextVisibleAt(now = this.#now()): number | undefined {
    let next: number | undefined;
    for (const message of this.#messages.values()) {
      if (message.visibleAt > now && (next === undefined || message.visibleAt < next))
        next = message.visibleAt;
    }
    return next;
  }

  /** Deletes every message (PurgeQueue). */
  purge(): void {
    this.#messages.clear();
  }

  #add(message: Stored): void {
    this.#messages.set(message.messageId, message);
    this.#sent++;
    for (const listener of this.#listeners) listener();
  }
}
