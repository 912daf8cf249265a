/**
 * SQS on the stack's own port, in the protocol `@aws-sdk/client-sqs` 3.11xx speaks: awsJson1_0
 * (`POST /` with `X-Amz-Target: AmazonSQS.<Action>` and a JSON body), with the query-compatible
 * `x-amzn-query-error` header on errors, so the SDK raises `QueueDoesNotExist`,
 * `TooManyEntriesInBatchRequest` and the rest by name. The SDK sends to the host of the
 * `QueueUrl` it is given, so the handlers need only `PUSH_SHARD_QUEUE_URL`.
 *
 * Actions: SendMessage and SendMessageBatch (what the publish handler uses), GetQueueUrl and
 * GetQueueAttributes (for tools). Receiving is the event source's job; ReceiveMessage and the
 * rest answer `UnsupportedOperation`. Signatures are not checked. Older clients' query protocol is
 * served by sqs-query.ts over the same actions.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendJson } from './http-util';
import type { DenialFormat, IamEnforcer } from './iam/enforcer';
import { sqsRequests } from './iam/requests';
import type { LocalSqsQueue, SqsMessage, SqsMessageAttribute } from './queue/sqs-queue';

/** The `X-Amz-Target` prefix of SQS actions. */
export const SQS_TARGET_PREFIX = 'AmazonSQS.';

/** SQS's limit for one message, and for a whole SendMessageBatch (1 MiB since 2025; 256 KiB before). */
export const MAX_SQS_MESSAGE_BYTES = 1024 * 1024;

/** The longest delay SendMessage accepts: 15 minutes. */
const MAX_DELAY_SECONDS = 900;

const BATCH_ENTRY_ID = /^[A-Za-z0-9_-]{1,80}$/;

/**
 * Characters SQS accepts in a body (the XML 1.0 set): tab, newline, carriage return, and
 * #x20–#xD7FF, #xE000–#xFFFD, #x10000–#x10FFFF. Lone surrogates are refused too.
 */
const INVALID_BODY_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

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

const errors = {
  noQueue: () =>
    new SqsError(
      'QueueDoesNotExist',
      'AWS.SimpleQueueService.NonExistentQueue',
      'The specified queue does not exist.',
    ),
  invalid: (message: string) => new SqsError('InvalidParameterValue', 'InvalidParameterValue', message),
  missing: (name: string) =>
    new SqsError('MissingParameter', 'MissingParameter', `The request must contain the parameter ${name}.`),
};

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

/** The queues the endpoint serves, found by the path of a queue URL (`/<account>/<name>`). */
export interface SqsQueueDirectory {
  readonly queues: readonly LocalSqsQueue[];
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

/** Why SQS would refuse a body, or undefined when it would take it. */
function bodyProblem(body: unknown): SqsError | undefined {
  if (typeof body !== 'string' || body === '') return errors.missing('MessageBody');
  const size = Buffer.byteLength(body, 'utf8');
  if (size > MAX_SQS_MESSAGE_BYTES)
    return errors.invalid(
      `One or more parameters are invalid. Reason: Message must be shorter than ${MAX_SQS_MESSAGE_BYTES} bytes.`,
    );
  if (INVALID_BODY_CHARACTER.test(body))
    return new SqsError(
      'InvalidMessageContents',
      'InvalidMessageContents',
      'Invalid binary character in the message body; see the characters SQS allows.',
    );
  return undefined;
}

function delayOf(value: unknown): number {
  if (value === undefined || value === null) return 0;
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_DELAY_SECONDS)
    throw errors.invalid(
      `Value ${String(value)} for parameter DelaySeconds is invalid. Reason: must be 0..900.`,
    );
  return (value as number) * 1000;
}

function attributesOf(value: unknown): Record<string, SqsMessageAttribute> | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object') throw errors.invalid('MessageAttributes must be a map');
  return value as Record<string, SqsMessageAttribute>;
}

function sent(message: SqsMessage): { MessageId: string; MD5OfMessageBody: string } {
  return { MessageId: message.messageId, MD5OfMessageBody: message.md5OfBody };
}

/** One call's input, in the JSON protocol's shape. */
export type Input = Record<string, unknown>;

function sendMessage(directory: SqsQueueDirectory, input: Input): unknown {
  const queue = queueOf(directory, input.QueueUrl);
  const problem = bodyProblem(input.MessageBody);
  if (problem !== undefined) throw problem;
  const attributes = attributesOf(input.MessageAttributes);
  return sent(
    queue.send(input.MessageBody as string, {
      delayMs: delayOf(input.DelaySeconds),
      ...(attributes === undefined ? {} : { messageAttributes: attributes }),
    }),
  );
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
    const problem = bodyProblem(entry.MessageBody);
    if (problem !== undefined) {
      Failed.push({ Id: entry.Id, SenderFault: true, Code: problem.type, Message: problem.message });
      continue;
    }
    try {
      const attributes = attributesOf(entry.MessageAttributes);
      const message = queue.send(entry.MessageBody as string, {
        delayMs: delayOf(entry.DelaySeconds),
        ...(attributes === undefined ? {} : { messageAttributes: attributes }),
      });
      Successful.push({ Id: entry.Id, ...sent(message) });
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
  const wanted = names.includes('All') ? Object.keys(all) : names;
  return { Attributes: Object.fromEntries(wanted.filter((n) => n in all).map((n) => [n, all[n]])) };
}

const ACTIONS: Readonly<Record<string, (directory: SqsQueueDirectory, input: Input) => unknown>> = {
  SendMessage: sendMessage,
  SendMessageBatch: sendMessageBatch,
  GetQueueUrl: getQueueUrl,
  GetQueueAttributes: getQueueAttributes,
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
 * or its result. Throws {@link SqsError} for what SQS would refuse.
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
  const action = ACTIONS[actionName];
  if (action === undefined)
    throw new SqsError(
      'UnsupportedOperation',
      'AWS.SimpleQueueService.UnsupportedOperation',
      `The local stack does not serve ${actionName}; its event source receives the messages.`,
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
    if (body.tooLarge)
      throw new SqsError(
        'BatchRequestTooLong',
        'AWS.SimpleQueueService.BatchRequestTooLong',
        `Requests cannot be longer than ${MAX_SQS_MESSAGE_BYTES} bytes.`,
      );
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
    if (ran !== undefined) sendResult(res, ran.result);
  } catch (error) {
    if (!(error instanceof SqsError)) throw error;
    sendError(res, error);
  }
}
