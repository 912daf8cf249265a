/**
 * SNS's `Publish` action, as `@aws-sdk/client-sns` speaks it: the awsQuery protocol (a
 * form-encoded `POST /` with `Action=Publish`, answered in XML). The message reaches the publish
 * handler as the SNS event a topic subscription delivers, asynchronously, as SNS invokes Lambda.
 * Any well-formed topic ARN is accepted: the local stack has one subscriber, the publish handler.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { LocalFunctions } from './functions';
import { readBody } from './http-util';
import type { IamEnforcer } from './iam/enforcer';
import { snsRequests } from './iam/requests';
import { ATTRIBUTE_TYPE, attributeBytes, DECIMAL_NUMBER } from './message-attributes';
import { type FormFields, formFields, numbered } from './query-form';

const XMLNS = 'http://sns.amazonaws.com/doc/2010-03-31/';

/** SNS's message size limit. */
export const MAX_SNS_MESSAGE_BYTES = 256 * 1024;

/** A topic ARN printed in the startup banner as an example; any other works as well. */
export function exampleTopicArn(region: string, accountId: string): string {
  return `arn:aws:sns:${region}:${accountId}:push-publish`;
}

const TOPIC_ARN = /^arn:aws[\w-]*:sns:[\w-]+:\d{12}:[\w-]{1,256}(\.fifo)?$/;

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendXml(res: ServerResponse, status: number, xml: string): void {
  res.writeHead(status, { 'Content-Type': 'text/xml', 'Content-Length': Buffer.byteLength(xml) });
  res.end(xml);
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  sendXml(
    res,
    status,
    `<ErrorResponse xmlns="${XMLNS}"><Error><Type>Sender</Type><Code>${code}</Code>` +
      `<Message>${xmlEscape(message)}</Message></Error><RequestId>${randomUUID()}</RequestId></ErrorResponse>`,
  );
}

/**
 * The first message attribute SNS would refuse, for its type or for a `Number` value that is no
 * number, as SNS words the refusal (wire code `ParameterValueInvalid`, which the SDK raises as
 * `InvalidParameterValueException`); undefined when every one is acceptable.
 */
export function refusedAttribute(fields: FormFields): string | undefined {
  for (const { name, type, value } of attributeEntries(fields)) {
    if (!ATTRIBUTE_TYPE.test(type ?? '')) {
      return `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`;
    }
    if (type === 'Number' && value !== '' && !DECIMAL_NUMBER.test(value)) {
      return `Could not cast message attribute '${name}' value to number.`;
    }
  }
  return undefined;
}

/**
 * The bytes the message attributes count toward the message size: each one's name, type and
 * value, as SNS counts them (Amazon SNS Developer Guide, "Amazon SNS message attributes").
 */
export function messageAttributeBytes(fields: FormFields): number {
  let bytes = 0;
  for (const { name, type, value } of attributeEntries(fields))
    bytes += attributeBytes(name, type ?? '', value, type?.startsWith('Binary') === true);
  return bytes;
}

/**
 * `MessageAttributes.entry.N.{Name,Value.DataType,Value.StringValue,Value.BinaryValue}`, in order.
 * SNS sets no count on them (only a subscription with raw delivery to SQS takes at most 10): the
 * size limit bounds them, and each is looked up in constant time (see query-form.ts).
 */
function* attributeEntries(fields: FormFields) {
  for (const n of numbered(fields, (n) => `MessageAttributes.entry.${n}.Name`)) {
    const prefix = `MessageAttributes.entry.${n}`;
    yield {
      name: fields.get(`${prefix}.Name`) as string,
      type: fields.get(`${prefix}.Value.DataType`),
      value: fields.get(`${prefix}.Value.StringValue`) ?? fields.get(`${prefix}.Value.BinaryValue`) ?? '',
    };
  }
}

/** An SNS message attribute as the Lambda event carries it. */
interface EventAttribute {
  readonly Type: string;
  readonly Value: string;
}

/** The form's message attributes → the event's map. */
export function parseMessageAttributes(fields: FormFields): Record<string, EventAttribute> {
  const attributes = new Map<string, EventAttribute>();
  for (const { name, type, value } of attributeEntries(fields)) {
    attributes.set(name, { Type: type ?? 'String', Value: value });
  }
  // fromEntries defines each name as an own property: assigned, `__proto__` would set the
  // object's prototype and vanish from the event.
  return Object.fromEntries(attributes);
}

/** The SNS → Lambda event for one published message. */
export function snsEvent(input: {
  topicArn: string;
  messageId: string;
  message: string;
  subject?: string | null;
  attributes: Record<string, EventAttribute>;
  now: number;
}) {
  return {
    Records: [
      {
        EventSource: 'aws:sns',
        EventVersion: '1.0',
        EventSubscriptionArn: `${input.topicArn}:${randomUUID()}`,
        Sns: {
          Type: 'Notification',
          MessageId: input.messageId,
          TopicArn: input.topicArn,
          Subject: input.subject ?? null,
          Message: input.message,
          Timestamp: new Date(input.now).toISOString(),
          SignatureVersion: '1',
          Signature: 'EXAMPLE',
          SigningCertUrl: 'EXAMPLE',
          UnsubscribeUrl: 'EXAMPLE',
          MessageAttributes: input.attributes,
        },
      },
    ],
  };
}

/**
 * The message a Lambda subscriber gets: with `MessageStructure=json` the `lambda` key, else
 * `default`, as SNS picks per protocol. An unusable structure gives SNS's reason instead:
 * it requires a JSON object with a string `default` entry, whatever other keys there are.
 */
export function messageForLambda(
  message: string,
  structure: string | undefined,
): { readonly message: string } | { readonly refused: string } {
  if (structure !== 'json') return { message };
  let parsed: unknown;
  try {
    parsed = JSON.parse(message);
  } catch {
    return { refused: 'Invalid parameter: Message Structure - JSON message body failed to parse' };
  }
  const { default: fallback, lambda } =
    typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : {};
  if (typeof fallback !== 'string')
    return { refused: 'Invalid parameter: Message Structure - No default entry in JSON message body' };
  return { message: typeof lambda === 'string' ? lambda : fallback };
}

/**
 * The most a form-encoded Publish can take for a message within the limit: percent-encoding
 * makes each byte of a UTF-8 message up to three, and the other parameters come on top.
 */
const MAX_FORM_BYTES = 3 * MAX_SNS_MESSAGE_BYTES + 64 * 1024;

/** Handles a form-encoded `POST /` (the awsQuery endpoint). */
export async function handleSnsQuery(
  req: IncomingMessage,
  res: ServerResponse,
  functions: LocalFunctions,
  iam?: IamEnforcer,
): Promise<void> {
  const body = await readBody(req, MAX_FORM_BYTES);
  if (body.tooLarge) return sendError(res, 400, 'InvalidParameter', 'Invalid parameter: Message too long');
  const fields = formFields(body.bytes.toString('utf8'));
  const action = fields.get('Action');
  if (action !== 'Publish') {
    return sendError(
      res,
      400,
      'InvalidAction',
      `The action ${action ?? '(none)'} is not valid for this endpoint.`,
    );
  }
  const topicArn = fields.get('TopicArn') ?? fields.get('TargetArn');
  if (topicArn === undefined)
    return sendError(
      res,
      400,
      'InvalidParameter',
      'Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter',
    );
  if (!TOPIC_ARN.test(topicArn))
    return sendError(res, 400, 'InvalidParameter', 'Invalid parameter: TopicArn');
  const caller = iam?.callerOf(req);
  if (
    caller !== undefined &&
    iam?.refuse(res, 'sns', caller, snsRequests(iam.scope, 'Publish', topicArn, iam.keys.topic?.(topicArn)))
  )
    return;
  const raw = fields.get('Message');
  if (raw === undefined || raw === '')
    return sendError(res, 400, 'InvalidParameter', 'Invalid parameter: Empty message');
  if (Buffer.byteLength(raw, 'utf8') + messageAttributeBytes(fields) > MAX_SNS_MESSAGE_BYTES) {
    return sendError(res, 400, 'InvalidParameter', 'Invalid parameter: Message too long');
  }
  const refused = refusedAttribute(fields);
  if (refused !== undefined) return sendError(res, 400, 'ParameterValueInvalid', refused);
  const chosen = messageForLambda(raw, fields.get('MessageStructure'));
  if ('refused' in chosen) return sendError(res, 400, 'InvalidParameter', chosen.refused);
  const { message } = chosen;

  const messageId = randomUUID();
  functions.invokeAsync(
    'publish',
    snsEvent({
      topicArn,
      messageId,
      message,
      subject: fields.get('Subject'),
      attributes: parseMessageAttributes(fields),
      now: Date.now(),
    }),
  );
  sendXml(
    res,
    200,
    `<PublishResponse xmlns="${XMLNS}"><PublishResult><MessageId>${messageId}</MessageId></PublishResult>` +
      `<ResponseMetadata><RequestId>${randomUUID()}</RequestId></ResponseMetadata></PublishResponse>`,
  );
}
