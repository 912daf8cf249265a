/**
 * The two halves of Lambda's SQS event source that can be pure: the event a batch of messages
 * becomes, and how the function's answer decides which messages are deleted.
 */
import type { SQSEvent, SQSMessageAttributes } from 'aws-lambda';
import type { ReceivedMessage, SqsMessageAttribute } from './sqs-queue';

function eventAttributes(attributes: Readonly<Record<string, SqsMessageAttribute>>): SQSMessageAttributes {
  return Object.fromEntries(
    Object.entries(attributes).map(([name, a]) => [
      name,
      {
        dataType: a.DataType,
        ...(a.StringValue === undefined ? {} : { stringValue: a.StringValue }),
        ...(a.BinaryValue === undefined ? {} : { binaryValue: a.BinaryValue }),
        stringListValues: [],
        binaryListValues: [],
      },
    ]),
  );
}

/**
 * The event Lambda's SQS event source passes for `messages`: one record per message, with the
 * system attributes as strings, as AWS sends them.
 */
export function sqsEvent(
  messages: readonly ReceivedMessage[],
  queue: { readonly arn: string },
  region: string,
): SQSEvent {
  return {
    Records: messages.map((m) => ({
      messageId: m.messageId,
      receiptHandle: m.receiptHandle,
      body: m.body,
      attributes: {
        ApproximateReceiveCount: String(m.receiveCount),
        SentTimestamp: String(m.sentTimestamp),
        SenderId: m.senderId,
        ApproximateFirstReceiveTimestamp: String(m.firstReceiveTimestamp),
      },
      messageAttributes: eventAttributes(m.messageAttributes),
      md5OfBody: m.md5OfBody,
      eventSource: 'aws:sqs',
      eventSourceARN: queue.arn,
      awsRegion: region,
    })),
  };
}

/**
 * Which messages of a batch failed, from the function's return value, by the rules of an event
 * source with `ReportBatchItemFailures`: no answer, an empty answer or an empty (or null)
 * `batchItemFailures` is complete success; an item whose `itemIdentifier` is missing, empty or
 * not a message of the batch makes the whole batch fail, as does an answer that cannot be read as
 * a batch response. `'all'` means every message stays in the queue.
 *
 * @example
 * failedMessages({ batchItemFailures: [{ itemIdentifier: 'm2' }] }, ['m1', 'm2']) // Set { 'm2' }
 */
export function failedMessages(result: unknown, messageIds: readonly string[]): ReadonlySet<string> | 'all' {
  if (result === undefined || result === null) return new Set();
  if (typeof result !== 'object' || Array.isArray(result)) return 'all';
  const failures = (result as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return new Set();
  if (!Array.isArray(failures)) return 'all';
  const known = new Set(messageIds);
  const failed = new Set<string>();
  for (const failure of failures) {
    const id = (failure as { itemIdentifier?: unknown } | null)?.itemIdentifier;
    if (typeof id !== 'string' || !known.has(id)) return 'all';
    failed.add(id);
  }
  return failed;
}
