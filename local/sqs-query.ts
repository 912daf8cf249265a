/**
 * SQS's older wire protocol, awsQuery: a form-encoded `POST` with `Action=SendMessage&...`,
 * answered in XML. AWS CLIs and botocore releases from before SQS moved to JSON (late 2023;
 * Debian 12's `aws` 2.9 among them) still speak it, so the local queue answers them too, with the
 * same actions and checks as the JSON protocol (sqs-endpoint.ts) and SQS's own XML errors. An
 * action whose result is empty (DeleteMessage, ChangeMessageVisibility) answers an empty result
 * element, which clients read as nothing.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from './http-util';
import type { DenialFormat, IamEnforcer } from './iam/enforcer';
import { type FormFields, formFields, numbered } from './query-form';
import type { SqsMessageAttribute } from './queue/sqs-queue';
import {
  type Input,
  MAX_SQS_MESSAGE_BYTES,
  requestTooLong,
  runSqsAction,
  SqsError,
  type SqsQueueDirectory,
} from './sqs-endpoint';

const XMLNS = 'http://queue.amazonaws.com/doc/2012-11-05/';

/**
 * Whether a request is an SQS call in the query protocol: signed for the `sqs` service (the
 * credential scope says so) and not a JSON-protocol call.
 */
export function isSqsQuery(req: IncomingMessage): boolean {
  return (
    req.method === 'POST' &&
    req.headers['x-amz-target'] === undefined &&
    /\/sqs\/aws4_request/.test(req.headers.authorization ?? '')
  );
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"\r]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendXml(
  res: ServerResponse,
  status: number,
  xml: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, {
    'Content-Type': 'text/xml',
    'Content-Length': Buffer.byteLength(xml),
    'x-amzn-RequestId': randomUUID(),
    ...headers,
  });
  res.end(xml);
}

function errorXml(code: string, message: string, requestId: string): string {
  return (
    `<?xml version="1.0"?><ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type>` +
    `<Code>${xmlEscape(code)}</Code><Message>${xmlEscape(message)}</Message><Detail/></Error>` +
    `<RequestId>${requestId}</RequestId></ErrorResponse>`
  );
}

/** IAM's JSON-protocol denial, as the query protocol writes it. */
const denialAsXml: DenialFormat = (answer) => {
  const parsed = JSON.parse(answer.body) as { __type: string; message: string };
  const requestId = answer.headers['x-amzn-requestid'] ?? randomUUID();
  return {
    status: answer.status,
    headers: { 'content-type': 'text/xml', 'x-amzn-requestid': requestId },
    body: errorXml(parsed.__type.slice(parsed.__type.indexOf('#') + 1), parsed.message, requestId),
  };
};

/**
 * `Prefix.N.Name` / `Prefix.N.Value.*` message attributes → the JSON protocol's map, unchecked:
 * the JSON protocol's checks judge both.
 */
function attributesOf(fields: FormFields, prefix: string): Record<string, unknown> | undefined {
  const attributes = new Map<string, Record<string, string>>();
  for (const n of numbered(fields, (n) => `${prefix}.${n}.Name`)) {
    const value: Record<string, string> = {};
    for (const member of ['DataType', 'StringValue', 'BinaryValue']) {
      const given = fields.get(`${prefix}.${n}.Value.${member}`);
      if (given !== undefined) value[member] = given;
    }
    attributes.set(fields.get(`${prefix}.${n}.Name`) as string, value);
  }
  // fromEntries defines each name as an own property, as JSON.parse does for the JSON protocol:
  // assigned, `__proto__` would set the object's prototype and drop out of the message (and of
  // its MD5, which the SDK checks against its own).
  return attributes.size === 0 ? undefined : Object.fromEntries(attributes);
}

/** The values of a numbered list `Prefix.1`, `Prefix.2`, …. */
function listOf(fields: FormFields, prefix: string): string[] {
  return Array.from(
    numbered(fields, (n) => `${prefix}.${n}`),
    (n) => fields.get(`${prefix}.${n}`) as string,
  );
}

/** A numeric form value; SQS checks its range. */
function numberOf(value: string | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

/**
 * A form in the query protocol → the input the JSON protocol would carry. Each field is looked up
 * a bounded number of times, so a request costs what its fields do (see query-form.ts).
 */
export function queryInput(fields: FormFields): Input {
  const input: Record<string, unknown> = {};
  for (const name of ['QueueUrl', 'QueueName', 'MessageBody', 'ReceiptHandle']) {
    const value = fields.get(name);
    if (value !== undefined) input[name] = value;
  }
  for (const name of ['DelaySeconds', 'MaxNumberOfMessages', 'WaitTimeSeconds', 'VisibilityTimeout']) {
    const value = numberOf(fields.get(name));
    if (value !== undefined) input[name] = value;
  }
  const attributes = attributesOf(fields, 'MessageAttribute');
  if (attributes !== undefined) input.MessageAttributes = attributes;
  const names = listOf(fields, 'AttributeName');
  if (names.length > 0) input.AttributeNames = names;
  const systemNames = listOf(fields, 'MessageSystemAttributeName');
  if (systemNames.length > 0) input.MessageSystemAttributeNames = systemNames;
  const messageAttributeNames = listOf(fields, 'MessageAttributeName');
  if (messageAttributeNames.length > 0) input.MessageAttributeNames = messageAttributeNames;
  const entries: Record<string, unknown>[] = [];
  for (const n of numbered(fields, (n) => `SendMessageBatchRequestEntry.${n}.Id`)) {
    const at = `SendMessageBatchRequestEntry.${n}`;
    const entryDelay = numberOf(fields.get(`${at}.DelaySeconds`));
    const entryAttributes = attributesOf(fields, `${at}.MessageAttribute`);
    entries.push({
      Id: fields.get(`${at}.Id`),
      MessageBody: fields.get(`${at}.MessageBody`),
      ...(entryDelay === undefined ? {} : { DelaySeconds: entryDelay }),
      ...(entryAttributes === undefined ? {} : { MessageAttributes: entryAttributes }),
    });
  }
  if (entries.length > 0) input.Entries = entries;
  return input;
}

const element = (name: string, value: unknown) =>
  value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`;

/** A JSON-protocol result as the query protocol's XML result element. */
export function resultXml(action: string, result: Record<string, unknown>): string {
  switch (action) {
    case 'SendMessage':
      return element('MessageId', result.MessageId) + element('MD5OfMessageBody', result.MD5OfMessageBody);
    case 'SendMessageBatch': {
      const ok = (result.Successful as Record<string, unknown>[]).map(
        (e) =>
          `<SendMessageBatchResultEntry>${element('Id', e.Id)}${element('MessageId', e.MessageId)}` +
          `${element('MD5OfMessageBody', e.MD5OfMessageBody)}</SendMessageBatchResultEntry>`,
      );
      const failed = (result.Failed as Record<string, unknown>[]).map(
        (e) =>
          `<BatchResultErrorEntry>${element('Id', e.Id)}${element('SenderFault', e.SenderFault)}` +
          `${element('Code', e.Code)}${element('Message', e.Message)}</BatchResultErrorEntry>`,
      );
      return ok.join('') + failed.join('');
    }
    case 'GetQueueUrl':
      return element('QueueUrl', result.QueueUrl);
    case 'ReceiveMessage':
      return (result.Messages as Record<string, unknown>[])
        .map(
          (m) =>
            `<Message>${element('MessageId', m.MessageId)}${element('ReceiptHandle', m.ReceiptHandle)}` +
            `${element('MD5OfBody', m.MD5OfBody)}${element('Body', m.Body)}` +
            Object.entries((m.Attributes ?? {}) as Record<string, string>)
              .map(
                ([name, value]) =>
                  `<Attribute>${element('Name', name)}${element('Value', value)}</Attribute>`,
              )
              .join('') +
            element('MD5OfMessageAttributes', m.MD5OfMessageAttributes) +
            Object.entries((m.MessageAttributes ?? {}) as Record<string, SqsMessageAttribute>)
              .map(
                ([name, value]) =>
                  `<MessageAttribute>${element('Name', name)}<Value>${element('DataType', value.DataType)}` +
                  `${element('StringValue', value.StringValue)}${element('BinaryValue', value.BinaryValue)}` +
                  '</Value></MessageAttribute>',
              )
              .join('') +
            '</Message>',
        )
        .join('');
    case 'GetQueueAttributes':
      return Object.entries(result.Attributes as Record<string, string>)
        .map(([name, value]) => `<Attribute>${element('Name', name)}${element('Value', value)}</Attribute>`)
        .join('');
    default:
      return '';
  }
}

/** Handles an SQS call in the query protocol ({@link isSqsQuery}). */
export async function handleSqsQuery(
  req: IncomingMessage,
  res: ServerResponse,
  directory: SqsQueueDirectory,
  iam?: IamEnforcer,
): Promise<void> {
  // Percent-encoding can triple a body, and a batch carries up to the message limit.
  const body = await readBody(req, 3 * MAX_SQS_MESSAGE_BYTES + 64 * 1024);
  const fields = formFields(body.bytes.toString('utf8'));
  const action = fields.get('Action') ?? '';
  try {
    if (body.tooLarge) throw requestTooLong();
    if (action === '')
      throw new SqsError('MissingAction', 'MissingAction', 'The request must contain the parameter Action.');
    const input = queryInput(fields);
    // A query client may send to the queue's own URL instead of naming it.
    if (input.QueueUrl === undefined && input.QueueName === undefined && req.url !== '/')
      input.QueueUrl = `http://localhost${req.url}`;
    const ran = runSqsAction(req, res, action, input, directory, iam, denialAsXml);
    if (ran === undefined) return;
    const result = (await ran.result) as Record<string, unknown>;
    sendXml(
      res,
      200,
      `<?xml version="1.0"?><${action}Response xmlns="${XMLNS}"><${action}Result>` +
        resultXml(action, result) +
        `</${action}Result><ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata>` +
        `</${action}Response>`,
    );
  } catch (error) {
    if (!(error instanceof SqsError)) throw error;
    const requestId = randomUUID();
    sendXml(res, error.status, errorXml(error.queryCode, error.message, requestId), {
      'x-amzn-RequestId': requestId,
    });
  }
}
