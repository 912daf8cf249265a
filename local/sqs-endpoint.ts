/**
 * SQS on the stack's own port, in the protocol `@aws-sdk/client-sqs` 3.11xx speaks: awsJson1_0
 * (`POST /` with `X-Amz-Target: AmazonSQS.<Action>` and a JSON body), with the query-compatible
 * `x-amzn-query-error` header on errors, so the SDK raises `QueueDoesNotExist`,
 * `TooManyEntriesInBatchRequest` and the rest by name. The SDK sends to the host of the
 * `QueueUrl` it is given, so the handlers need only `PUSH_SHARD_QUEUE_URL`.
 *
 * Actions: SendMessage and SendMessageBatch (what the publish handler and the worker use),
 * ChangeMessageVisibility (the worker's backoff for a failed shard job), GetQueueUrl and
 * GetQueueAttributes, and ReceiveMessage (with long polling) and DeleteMessage, so tools and tests
 * can read a dead-letter queue as on AWS. The worker's event source receives from
 * the shard queue itself; a ReceiveMessage there competes with it, as it would with Lambda's
 * poller. The rest answer `UnsupportedOperation`. Signatures are not checked. Older clients'
 * query protocol is served by sqs-query.ts over the same actions.
 */
import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { QueueAttributeName } from '@aws-sdk/client-sqs';
import { QUOTAS } from '../lambdas/shared/quotas';
import { readBody, sendJson } from './http-util';
import type { DenialFormat, IamEnforcer } from './iam/enforcer';
import { sqsRequests } from './iam/requests';
import { INVALID_SQS_CHARACTER, type SqsMessageAttributes, sqsMessageAttributes } from './message-attributes';
import type { LocalSqsQueue, ReceivedMessage, SqsMessage, SqsMessageAttribute } from './queue/sqs-queue';

/** The `X-Amz-Target` prefix of SQS actions. */
export const SQS_TARGET_PREFIX = 'AmazonSQS.';

/** SQS's limit for one message, and for a whole SendMessageBatch (1 MiB since 2025; 256 KiB before). */
export const MAX_SQS_MESSAGE_BYTES = QUOTAS.maxSqsMessageBytes;

/** The longest delay SendMessage accepts: 15 minutes. */
const MAX_DELAY_SECONDS = 900;

/** The longest a ReceiveMessage may wait for a message (long polling): 20 seconds. */
const MAX_WAIT_SECONDS = 20;

/** The longest visibility timeout a ReceiveMessage or ChangeMessageVisibility may ask for: 12 hours. */
const MAX_VISIBILITY_SECONDS = QUOTAS.sqsMaxVisibilitySeconds;

const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;

/** An SQS error: the SDK's error name, the query-compatible code, and the HTTP status. */
export class SqsError extends Error {
  override readonly name = 'SqsError';
  constructor(
    readonly type: string,
    readonly queryCode: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

/**
 * The attribute names GetQueueAttributes takes: SQS answers any other with `InvalidAttributeName`.
 * Held to the SDK's `QueueAttributeName` by tsc, so an SDK release that adds one shows here; the
 * SDK itself is not loaded for it (a type import).
 */
const QUEUE_ATTRIBUTE_NAMES: ReadonlySet<string> = new Set(
  Object.keys({
    All: true,
    ApproximateNumberOfMessages: true,
    ApproximateNumberOfMessagesDelayed: true,
    ApproximateNumberOfMessagesNotVisible: true,
    ContentBasedDeduplication: true,
    CreatedTimestamp: true,
    DeduplicationScope: true,
    DelaySeconds: true,
    FifoQueue: true,
    FifoThroughputLimit: true,
    KmsDataKeyReusePeriodSeconds: true,
    KmsMasterKeyId: true,
    LastModifiedTimestamp: true,
    MaximumMessageSize: true,
    MessageRetentionPeriod: true,
    Policy: true,
    QueueArn: true,
    ReceiveMessageWaitTimeSeconds: true,
    RedriveAllowPolicy: true,
    RedrivePolicy: true,
    SqsManagedSseEnabled: true,
    VisibilityTimeout: true,
  } as const satisfies Record<QueueAttributeName, true>),
);

const errors = {
  noQueue: () =>
    new SqsError(
      'QueueDoesNotExist',
      'AWS.SimpleQueueService.NonExistentQueue',
      'The specified queue does not exist.',
    ),
  invalid: (message: string) => new SqsError('InvalidParameterValue', 'InvalidParameterValue', message),
  unknownAttribute: (name: string) =>
    new SqsError('InvalidAttributeName', 'InvalidAttributeName', `Unknown Attribute ${name}.`),
  missing: (name: string) =>
    new SqsError('MissingParameter', 'MissingParameter', `The request must contain the parameter ${name}.`),
};

/** A request body past what the endpoint reads, in either protocol. */
export function requestTooLong(): SqsError {
  return new SqsError(
    'BatchRequestTooLong',
    'AWS.SimpleQueueService.BatchRequestTooLong',
    `Requests cannot be longer than ${MAX_SQS_MESSAGE_BYTES} bytes.`,
  );
}

function sendError(res: ServerResponse, error: SqsError): void {
  sendJson(
    res,
    error.status,
    { __type: `com.amazonaws.sqs#${error.type}`, message: error.message },
    {
      'Content-Type': 'application/x-amz-json-1.0',
      'x-amzn-query-error': `${error.queryCode};Sender`,
      'x-amzn-RequestId': randomUUID(),
    },
  );
}

function sendResult(res: ServerResponse, body: unknown): void {
  sendJson(res, 200, body, {
    'Content-Type': 'application/x-amz-json-1.0',
    'x-amzn-RequestId': randomUUID(),
  });
}

/**
 * The queues the endpoint serves, found by the path of a queue URL (`/<account>/<name>`), and the
 * long polls waiting on them, which {@link SqsQueueDirectory.stop} ends when the stack stops.
 *
 * @example
 * const directory = new SqsQueueDirectory([...shards.queues, ...destinations.queues]);
 * await handleSqs(req, res, target, directory);
 * directory.stop(); // at stack stop, before the server's connections close
 */
export class SqsQueueDirectory {
  readonly queues: readonly LocalSqsQueue[];
  /** Each waiting long poll's way to answer at once, with nothing. */
  readonly #polls = new Set<() => void>();
  #stopped = false;

  constructor(queues: readonly LocalSqsQueue[]) {
    this.queues = queues;
  }

  /** Long polls waiting for a message. */
  get longPolls(): number {
    return this.#polls.size;
  }

  /** True once {@link stop} ran: a ReceiveMessage no longer waits. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Registers a waiting long poll: `answerEmpty` ends it with no messages (its timer cleared, its
   * queue listener gone). Returns the function that unregisters it once it ends on its own.
   */
  hold(answerEmpty: () => void): () => void {
    this.#polls.add(answerEmpty);
    return () => this.#polls.delete(answerEmpty);
  }

  /**
   * Ends every waiting long poll with an empty answer, and makes later ReceiveMessage calls answer
   * at once: a poll left waiting kept its listener on the queue, and its timer later received
   * from the stopped stack's queue (counting a receive, possibly dead-lettering a shard job) and
   * wrote to a response the server had destroyed.
   */
  stop(): void {
    this.#stopped = true;
    for (const answerEmpty of [...this.#polls]) answerEmpty();
    this.#polls.clear();
  }
}

function queueOf(directory: SqsQueueDirectory, queueUrl: unknown): LocalSqsQueue {
  if (typeof queueUrl !== 'string' || queueUrl === '') throw errors.missing('QueueUrl');
  let path: string;
  try {
    path = new URL(queueUrl).pathname;
  } catch {
    throw errors.noQueue();
  }
  // Any host that reaches this server is this server, so only the path names the queue.
  const queue = directory.queues.find((q) => new URL(q.url).pathname === path);
  if (queue === undefined) throw errors.noQueue();
  return queue;
}

/**
 * A message as SQS takes it: its body and attributes, checked, the attributes counted toward the
 * size limit as SQS counts them. Throws {@link SqsError} with SQS's reason when it would refuse it.
 */
function checkedMessage(
  entry: Input,
  checked: SqsMessageAttributes = sqsMessageAttributes(entry.MessageAttributes),
): { body: string; attributes?: Record<string, SqsMessageAttribute> } {
  const body = entry.MessageBody;
  if (typeof body !== 'string' || body === '') throw errors.missing('MessageBody');
  if ('refused' in checked) throw errors.invalid(checked.refused);
  if (Buffer.byteLength(body, 'utf8') + checked.bytes > MAX_SQS_MESSAGE_BYTES)
    throw errors.invalid(
      `One or more parameters are invalid. Reason: Message must be shorter than ${MAX_SQS_MESSAGE_BYTES} bytes.`,
    );
  if (INVALID_SQS_CHARACTER.test(body))
    throw new SqsError(
      'InvalidMessageContents',
      'InvalidMessageContents',
      'Invalid binary character in the message body; see the characters SQS allows.',
    );
  return checked.attributes === undefined ? { body } : { body, attributes: checked.attributes };
}

/** Sends a checked message to `queue`; `checked`: its attributes, when already checked. */
function sendChecked(queue: LocalSqsQueue, entry: Input, checked?: SqsMessageAttributes): SqsMessage {
  const { body, attributes } = checkedMessage(entry, checked);
  return queue.send(body, {
    delayMs: delayOf(entry.DelaySeconds),
    ...(attributes === undefined ? {} : { messageAttributes: attributes }),
  });
}

function delayOf(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_DELAY_SECONDS)
    throw errors.invalid(
      `Value ${String(value)} for parameter DelaySeconds is invalid. Reason: must be 0..900.`,
    );
  return (value as number) * 1000;
}

function sent(message: SqsMessage): { MessageId: string; MD5OfMessageBody: string } {
  return { MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody };
}

/** One call's input, in the JSON protocol's shape. */
export type Input = Record<string, unknown>;

function sendMessage(directory: SqsQueueDirectory, input: Input): unknown {
  return sent(sendChecked(queueOf(directory, input.QueueUrl), input));
}

function sendMessageBatch(directory: SqsQueueDirectory, input: Input): unknown {
  const queue = queueOf(directory, input.QueueUrl);
  const entries = input.Entries;
  if (!Array.isArray(entries) || entries.length === 0)
    throw new SqsError(
      'EmptyBatchRequest',
      'AWS.SimpleQueueService.EmptyBatchRequest',
      'There should be at least one SendMessageBatchRequestEntry in the request.',
    );
  if (entries.length > 10)
    throw new SqsError(
      'TooManyEntriesInBatchRequest',
      'AWS.SimpleQueueService.TooManyEntriesInBatchRequest',
      `Maximum number of entries per request are 10. You have sent ${entries.length}.`,
    );
  const ids = new Set<string>();
  let total = 0;
  // Each entry's attributes, checked once: counted toward the batch here, sent with it below.
  const checked = new Map<Input, SqsMessageAttributes>();
  for (const entry of entries as Input[]) {
    const id = entry?.Id;
    if (typeof id !== 'string' || !BATCH_ENTRY_ID.test(id))
      throw new SqsError(
        'InvalidBatchEntryId',
        'AWS.SimpleQueueService.InvalidBatchEntryId',
        'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
      );
    if (ids.has(id))
      throw new SqsError(
        'BatchEntryIdsNotDistinct',
        'AWS.SimpleQueueService.BatchEntryIdsNotDistinct',
        `Id ${id} repeated.`,
      );
    ids.add(id);
    total += typeof entry.MessageBody === 'string' ? Buffer.byteLength(entry.MessageBody, 'utf8') : 0;
    // An entry whose attributes SQS refuses fails alone below; the others' count toward the batch.
    const attributes = sqsMessageAttributes(entry.MessageAttributes);
    checked.set(entry, attributes);
    total += 'refused' in attributes ? 0 : attributes.bytes;
  }
  if (total > MAX_SQS_MESSAGE_BYTES)
    throw new SqsError(
      'BatchRequestTooLong',
      'AWS.SimpleQueueService.BatchRequestTooLong',
      `Batch requests cannot be longer than ${MAX_SQS_MESSAGE_BYTES} bytes. You have sent ${total} bytes.`,
    );
  const Successful: unknown[] = [];
  const Failed: unknown[] = [];
  for (const entry of entries as Input[]) {
    // A bad entry fails alone; the others are still sent, as SQS does.
    try {
      Successful.push({ Id: entry.Id, ...sent(sendChecked(queue, entry, checked.get(entry))) });
    } catch (error) {
      if (!(error instanceof SqsError)) throw error;
      Failed.push({ Id: entry.Id, SenderFault: true, Code: error.type, Message: error.message });
    }
  }
  return { Successful, Failed };
}

function getQueueUrl(directory: SqsQueueDirectory, input: Input): unknown {
  const queue = directory.queues.find((q) => q.name === input.QueueName);
  if (queue === undefined) throw errors.noQueue();
  return { QueueUrl: queue.url };
}

function getQueueAttributes(directory: SqsQueueDirectory, input: Input): unknown {
  const queue = queueOf(directory, input.QueueUrl);
  const counts = queue.counts();
  const dlq = queue.deadLetterQueue;
  const all: Record<string, string> = {
    QueueArn: queue.arn,
    ApproximateNumberOfMessages: String(counts.visible),
    ApproximateNumberOfMessagesNotVisible: String(counts.inFlight),
    ApproximateNumberOfMessagesDelayed: String(counts.delayed),
    VisibilityTimeout: String(Math.round(queue.visibilityTimeoutMs / 1000)),
    ...(dlq === undefined || queue.maxReceiveCount === undefined
      ? {}
      : {
          RedrivePolicy: JSON.stringify({
            deadLetterTargetArn: dlq.arn,
            maxReceiveCount: queue.maxReceiveCount,
          }),
        }),
  };
  const names = Array.isArray(input.AttributeNames) ? (input.AttributeNames as string[]) : [];
  const unknown = names.find((name) => !QUEUE_ATTRIBUTE_NAMES.has(name));
  if (unknown !== undefined) throw errors.unknownAttribute(unknown);
  const wanted = names.includes('All') ? Object.keys(all) : names;
  return {
    Attributes: Object.fromEntries(wanted.filter((n) => Object.hasOwn(all, n)).map((n) => [n, all[n]])),
  };
}

/** An integer parameter within `min..max`, or `fallback` when absent; SQS's message otherwise. */
function integerIn(input: Input, name: string, min: number, max: number, fallback: number): number {
  const value = input[name];
  if (value === undefined || value === null) return fallback;
  if (!Number.isInteger(value) || (value as number) < min || (value as number) > max)
    throw errors.invalid(
      `Value ${String(value)} for parameter ${name} is invalid. Reason: Must be between ${min} and ${max}, if provided.`,
    );
  return value as number;
}

/** The system attributes SQS reports on a received message. */
function systemAttributes(message: ReceivedMessage): Record<string, string> {
  return {
    SenderId: message.senderId,
    SentTimestamp: String(message.sentTimestamp),
    ApproximateReceiveCount: String(message.receiveCount),
    ApproximateFirstReceiveTimestamp: String(message.firstReceiveTimestamp),
  };
}

/** `names` as SQS reads them: `All` (or `.*` for message attributes) means every one. */
function picked<T>(all: Readonly<Record<string, T>>, names: unknown, every: string): Record<string, T> {
  if (!Array.isArray(names) || names.length === 0) return {};
  if (names.includes(every) || names.includes('All')) return { ...all };
  return Object.fromEntries(Object.entries(all).filter(([name]) => names.includes(name)));
}

/**
 * The MD5 SQS computes over message attributes (`MD5OfMessageAttributes`), which the SDK checks:
 * each attribute by name order as length-prefixed name, data type, a transport byte (1 string,
 * 2 binary) and length-prefixed value.
 */
export function md5OfMessageAttributes(attributes: Readonly<Record<string, SqsMessageAttribute>>): string {
  const parts: Buffer[] = [];
  const prefixed = (bytes: Buffer) => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    parts.push(length, bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const attribute = attributes[name] as SqsMessageAttribute;
    prefixed(Buffer.from(name, 'utf8'));
    prefixed(Buffer.from(attribute.DataType, 'utf8'));
    if (attribute.BinaryValue !== undefined) {
      parts.push(Buffer.from([2]));
      prefixed(Buffer.from(attribute.BinaryValue, 'base64'));
    } else {
      parts.push(Buffer.from([1]));
      prefixed(Buffer.from(attribute.StringValue ?? '', 'utf8'));
    }
  }
  return createHash('md5').update(Buffer.concat(parts)).digest('hex');
}

function receivedShape(message: ReceivedMessage, input: Input): Record<string, unknown> {
  // `MessageSystemAttributeNames` is the parameter's current name (the SDK's and the CLI's);
  // `AttributeNames`, the one it replaced, is still taken. Either or both.
  const systemNames = [input.AttributeNames, input.MessageSystemAttributeNames].flatMap((names) =>
    Array.isArray(names) ? names : [],
  );
  const attributes = picked(systemAttributes(message), systemNames, 'All');
  const messageAttributes = picked(message.messageAttributes, input.MessageAttributeNames, '.*');
  return {
    MessageId: message.messageId,
    ReceiptHandle: message.receiptHandle,
    MD5OfBody: message.md5OfBody,
    Body: message.body,
    ...(Object.keys(attributes).length === 0 ? {} : { Attributes: attributes }),
    ...(Object.keys(messageAttributes).length === 0
      ? {}
      : {
          MessageAttributes: messageAttributes,
          MD5OfMessageAttributes: md5OfMessageAttributes(messageAttributes),
        }),
  };
}

/**
 * ReceiveMessage: up to `MaxNumberOfMessages` (1–10) visible messages, hidden for the queue's
 * visibility timeout or the call's own; with `WaitTimeSeconds` it waits until one is visible or
 * the time is up, then answers with what there is (possibly nothing), as long polling does: a
 * message sent, made visible by ChangeMessageVisibility, or becoming visible as its delay or
 * visibility timeout ends is answered at once.
 */
async function receiveMessage(directory: SqsQueueDirectory, input: Input): Promise<unknown> {
  const queue = queueOf(directory, input.QueueUrl);
  const max = integerIn(input, 'MaxNumberOfMessages', 1, 10, 1);
  const waitMs = integerIn(input, 'WaitTimeSeconds', 0, MAX_WAIT_SECONDS, 0) * 1000;
  const visibility = integerIn(input, 'VisibilityTimeout', 0, MAX_VISIBILITY_SECONDS, -1);
  const take = () => {
    const received = queue.receive(max);
    if (visibility >= 0) {
      for (const message of received) queue.changeVisibility(message.receiptHandle, visibility * 1000);
    }
    return received;
  };
  let received = take();
  // A stopping stack answers at once, with what there is.
  if (received.length === 0 && waitMs > 0 && !directory.stopped) {
    received = await new Promise<ReceivedMessage[]>((resolve) => {
      // The queue's clock: a message's visible time is in Date.now() terms.
      const deadline = Date.now() + waitMs;
      let timer: NodeJS.Timeout | undefined;
      let finished = false;
      // `take` may notify this very listener: a VisibilityTimeout of 0 makes what it received
      // visible again at once. Re-entered, it received the same message again and again, in one
      // synchronous burst: a shard job straight to its dead-letter queue, or a stack overflow
      // that took the whole stack down. So this poll takes once at a time, and stops listening
      // once it has something.
      let taking = false;
      const finish = (messages: ReceivedMessage[]) => {
        if (finished) return;
        finished = true;
        off();
        clearTimeout(timer);
        release();
        resolve(messages);
      };
      // Wakes when the next hidden message (a delay, a visibility timeout) is due, or at the end
      // of the wait, whichever comes first: nothing notifies the queue's listeners then.
      const arm = () => {
        clearTimeout(timer);
        const next = queue.nextVisibleAt();
        const delayMs =
          next === undefined || next >= deadline ? deadline - Date.now() : next - Date.now() + 1;
        timer = setTimeout(poll, Math.max(0, delayMs));
        // A pending long poll must not keep a stopping stack's process alive.
        timer.unref();
      };
      const poll = () => {
        if (taking || finished) return;
        taking = true;
        try {
          const now = take();
          if (now.length > 0 || Date.now() >= deadline) {
            finish(now);
            return;
          }
        } finally {
          taking = false;
        }
        arm();
      };
      const off = queue.onMessage(poll);
      // The stack's stop ends the wait with an empty answer, before it closes the connections.
      const release = directory.hold(() => finish([]));
      arm();
    });
  }
  return { Messages: received.map((message) => receivedShape(message, input)) };
}

/**
 * The call's `ReceiptHandle`: missing is `MissingParameter`; a string no receive could have handed
 * out is `ReceiptHandleIsInvalid` (404, as the SDK's model of SQS has it).
 */
function receiptHandleOf(input: Input): string {
  const handle = input.ReceiptHandle;
  if (typeof handle !== 'string' || handle === '') throw errors.missing('ReceiptHandle');
  if (!handle.includes('#'))
    throw new SqsError(
      'ReceiptHandleIsInvalid',
      'ReceiptHandleIsInvalid',
      `The input receipt handle "${handle}" is not a valid receipt handle.`,
      404,
    );
  return handle;
}

/** DeleteMessage: as SQS, a stale receipt handle of a message still held succeeds without effect. */
function deleteMessage(directory: SqsQueueDirectory, input: Input): unknown {
  const queue = queueOf(directory, input.QueueUrl);
  queue.delete(receiptHandleOf(input));
  return {};
}

/**
 * ChangeMessageVisibility: hides a received message for `VisibilityTimeout` seconds (0 to 43,200)
 * from now, 0 making it visible at once, by the handle of its latest receive. As SQS answers: a
 * string that is no receipt handle is `ReceiptHandleIsInvalid`; the handle of a message whose
 * visibility timeout has passed `MessageNotInflight`; a handle a later receive replaced, or of a
 * message deleted since, `InvalidParameterValue` ("Message does not exist or is not available for
 * visibility timeout change"). SQS's bound of 12 hours since the receive, in all, is not kept.
 */
function changeMessageVisibility(directory: SqsQueueDirectory, input: Input): unknown {
  const queue = queueOf(directory, input.QueueUrl);
  const handle = receiptHandleOf(input);
  if (input.VisibilityTimeout === undefined || input.VisibilityTimeout === null)
    throw errors.missing('VisibilityTimeout');
  const seconds = integerIn(input, 'VisibilityTimeout', 0, MAX_VISIBILITY_SECONDS, 0);
  const state = queue.receiptState(handle);
  if (state === 'stale')
    throw errors.invalid(
      `Value ${handle} for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.`,
    );
  if (state === 'visible')
    throw new SqsError(
      'MessageNotInflight',
      'AWS.SimpleQueueService.MessageNotInflight',
      "The message referred to isn't in flight.",
    );
  queue.changeVisibility(handle, seconds * 1000);
  return {};
}

const ACTIONS: Readonly<
  Record<string, (directory: SqsQueueDirectory, input: Input) => unknown | Promise<unknown>>
> = {
  SendMessage: sendMessage,
  SendMessageBatch: sendMessageBatch,
  GetQueueUrl: getQueueUrl,
  GetQueueAttributes: getQueueAttributes,
  ReceiveMessage: receiveMessage,
  DeleteMessage: deleteMessage,
  ChangeMessageVisibility: changeMessageVisibility,
};

/** The queue a call names, by its URL's last path segment or (GetQueueUrl) its name. */
function queueNameOf(input: Input): string | undefined {
  if (typeof input.QueueName === 'string') return input.QueueName;
  if (typeof input.QueueUrl !== 'string') return undefined;
  return input.QueueUrl.split('/').pop() || undefined;
}

/** Answers a function's call its role does not allow; true when it did. */
function refused(
  req: IncomingMessage,
  res: ServerResponse,
  iam: IamEnforcer | undefined,
  action: string,
  input: Input,
  denialAs?: DenialFormat,
): boolean {
  const caller = iam?.callerOf(req);
  const queueName = queueNameOf(input);
  if (iam === undefined || caller === undefined || queueName === undefined) return false;
  return iam.refuse(
    res,
    'sqs',
    caller,
    sqsRequests(iam.scope, action, queueName, iam.keys.queue?.(queueName)),
    denialAs,
  );
}

/**
 * Runs one call, in the JSON protocol's shapes: refused by IAM (answered; undefined comes back),
 * or its result (a promise for a ReceiveMessage that waits). Throws, or rejects with,
 * {@link SqsError} for what SQS would refuse.
 */
export function runSqsAction(
  req: IncomingMessage,
  res: ServerResponse,
  actionName: string,
  input: Input,
  directory: SqsQueueDirectory,
  iam: IamEnforcer | undefined,
  denialAs?: DenialFormat,
): { readonly result: unknown } | undefined {
  // IAM judges the call before the service looks at it, as on AWS.
  if (refused(req, res, iam, actionName, input, denialAs)) return undefined;
  // An own property only: `constructor` would otherwise run Object() and answer with the queues.
  const action = Object.hasOwn(ACTIONS, actionName) ? ACTIONS[actionName] : undefined;
  if (action === undefined)
    throw new SqsError(
      'UnsupportedOperation',
      'AWS.SimpleQueueService.UnsupportedOperation',
      `The local stack does not serve ${actionName}; its SQS serves ${Object.keys(ACTIONS).join(', ')}.`,
    );
  return { result: action(directory, input) };
}

/** Handles a request whose `X-Amz-Target` starts with {@link SQS_TARGET_PREFIX}. */
export async function handleSqs(
  req: IncomingMessage,
  res: ServerResponse,
  target: string,
  directory: SqsQueueDirectory,
  iam?: IamEnforcer,
): Promise<void> {
  // Room for a full batch plus the JSON around it.
  const body = await readBody(req, MAX_SQS_MESSAGE_BYTES * 2);
  const actionName = target.slice(SQS_TARGET_PREFIX.length);
  try {
    if (body.tooLarge) throw requestTooLong();
    let input: unknown;
    try {
      input = JSON.parse(body.bytes.toString('utf8') || '{}');
    } catch {
      throw new SqsError(
        'SerializationException',
        'SerializationException',
        'The request body is not valid JSON.',
      );
    }
    if (typeof input !== 'object' || input === null || Array.isArray(input))
      throw new SqsError(
        'SerializationException',
        'SerializationException',
        'The request body must be a JSON object.',
      );
    const ran = runSqsAction(req, res, actionName, input as Input, directory, iam);
    if (ran !== undefined) sendResult(res, await ran.result);
  } catch (error) {
    if (!(error instanceof SqsError)) throw error;
    sendError(res, error);
  }
}
