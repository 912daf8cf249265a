/**
 * Message attributes as SNS and SQS check them. Both take the same data types; SQS also bounds
 * how many a message has, what their names may hold, and counts them toward the message size.
 *
 * SQS's rules are those of the Amazon SQS Developer Guide ("Amazon SQS message attributes": up to
 * 10 per message; names of A–Z, a–z, 0–9, `_`, `-` and `.`, up to 256 characters, not starting
 * with `AWS.` or `Amazon.` in any casing, not starting or ending with `.`, no `..`; a type of up
 * to 256 characters; name, type and value all count toward the message size) and of the API
 * reference's MessageAttributeValue (`String` and `Number` carry a `StringValue`, `Binary` a
 * `BinaryValue`; none may be empty). The wording of the count, character, empty-value and number
 * refusals is SQS's own as clients have recorded it; where no such record was found, the
 * refusal says the same thing in its own words, with SQS's code.
 */
import type { SqsMessageAttribute } from './queue/sqs-queue';

/**
 * What SNS and SQS accept as a message attribute's `DataType`: `String`, `Number` or `Binary`,
 * alone or followed by `.` and a custom label (`String.Array`, `Number.float`).
 */
export const ATTRIBUTE_TYPE = /^(String|Number|Binary)(\..+)?$/;

/**
 * A decimal number as SNS and SQS read a `Number` attribute's value: an optional sign, digits
 * with an optional point (or a point and digits), an optional exponent. No spaces, hex, `NaN` or
 * `Infinity`, which a JavaScript `Number()` would take.
 */
export const DECIMAL_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** The most message attributes SQS takes on one message. */
export const MAX_SQS_MESSAGE_ATTRIBUTES = 10;

/** The longest attribute name, and the longest data type, SQS takes. */
const MAX_SQS_ATTRIBUTE_NAME_OR_TYPE = 256;

// Letters of Latin-1 and Latin Extended-A too: SQS takes `attr.1øßä` (LocalStack's tests, checked
// against AWS, send it as a valid name) although its guide lists ASCII only; it refuses `§`.
const SQS_NAME_CHARACTERS = /^[A-Za-z0-9_.\u00C0-\u017F-]*$/;

/**
 * A character SQS refuses in a message body and in a String attribute's value: what XML 1.0 cannot
 * carry (C0 controls but tab, line feed and carriage return; U+FFFE and U+FFFF; lone surrogates).
 */
export const INVALID_SQS_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;
const RESERVED_NAME_PREFIX = /^(aws|amazon)\./i;

/** Why SQS would refuse an attribute name, or undefined when it takes it. */
function sqsNameProblem(name: string): string | undefined {
  if (name === '') return 'The request must contain non-empty message attribute name.';
  if (name.length > MAX_SQS_ATTRIBUTE_NAME_OR_TYPE)
    return `Message (user) attribute name must be at most ${MAX_SQS_ATTRIBUTE_NAME_OR_TYPE} characters long.`;
  // SQS's message ends with a space.
  if (!SQS_NAME_CHARACTERS.test(name))
    return 'Message (user) attributes name can only contain upper and lower score characters, digits, periods, hyphens and underscores. ';
  if (name.startsWith('.') || name.endsWith('.') || name.includes('..'))
    return `Message (user) attribute name '${name}' must not start or end with '.' nor hold successive '.' characters.`;
  if (RESERVED_NAME_PREFIX.test(name))
    return `Message (user) attribute name '${name}' starts with a prefix reserved for AWS (AWS. or Amazon.).`;
  return undefined;
}

/** Why SQS would refuse an attribute's value, or undefined when it takes it. */
function sqsValueProblem(name: string, value: unknown): string | undefined {
  const {
    DataType: type,
    StringValue: text,
    BinaryValue: binary,
  } = typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : {};
  if (typeof type !== 'string' || type === '')
    return `The message attribute '${name}' must contain non-empty message attribute type.`;
  if (type.length > MAX_SQS_ATTRIBUTE_NAME_OR_TYPE)
    return `Message (user) attribute '${name}' type must be at most ${MAX_SQS_ATTRIBUTE_NAME_OR_TYPE} characters long.`;
  if (!ATTRIBUTE_TYPE.test(type))
    return `The message attribute '${name}' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.`;
  if (type.startsWith('Number'))
    return typeof text === 'string' && DECIMAL_NUMBER.test(text)
      ? undefined
      : `Can't cast the value of message (user) attribute '${name}' to a number.`;
  const [kind, carried] = type.startsWith('Binary') ? ['Binary', binary] : ['String', text];
  if (typeof carried !== 'string' || carried === '')
    return `Message (user) attribute '${name}' must contain a non-empty value of type '${kind}'.`;
  if (kind === 'String' && INVALID_SQS_CHARACTER.test(carried))
    return `Message (user) attribute '${name}' value holds a character SQS does not allow; it takes those a message body may hold.`;
  return undefined;
}

/** The bytes an attribute counts toward the message size: its name, type and value. */
export function attributeBytes(name: string, type: string, value: string, binary: boolean): number {
  return (
    Buffer.byteLength(name, 'utf8') +
    Buffer.byteLength(type, 'utf8') +
    Buffer.byteLength(value, binary ? 'base64' : 'utf8')
  );
}

/** A message's attributes as SQS takes them and the bytes they add, or why SQS refuses them. */
export type SqsMessageAttributes =
  | { readonly attributes?: Record<string, SqsMessageAttribute>; readonly bytes: number }
  | { readonly refused: string };

/**
 * A message's `MessageAttributes` as SQS takes them: each kept with its type and the one value
 * its type carries, and the bytes they add to the message; or SQS's reason to refuse them
 * (its code is `InvalidParameterValue`). Absent attributes are undefined.
 *
 * @example
 * sqsMessageAttributes({ kind: { DataType: 'String', StringValue: 'job' } })
 * // { attributes: { kind: { DataType: 'String', StringValue: 'job' } }, bytes: 13 }
 */
export function sqsMessageAttributes(value: unknown): SqsMessageAttributes {
  if (value === undefined || value === null) return { bytes: 0 };
  if (typeof value !== 'object' || Array.isArray(value))
    return { refused: 'MessageAttributes must be a map' };
  const entries = Object.entries(value);
  if (entries.length > MAX_SQS_MESSAGE_ATTRIBUTES)
    return {
      refused: `Number of message attributes [${entries.length}] exceeds the allowed maximum [${MAX_SQS_MESSAGE_ATTRIBUTES}].`,
    };
  const attributes: [string, SqsMessageAttribute][] = [];
  let bytes = 0;
  for (const [name, given] of entries) {
    const refused = sqsNameProblem(name) ?? sqsValueProblem(name, given);
    if (refused !== undefined) return { refused };
    const { DataType, StringValue, BinaryValue } = given as SqsMessageAttribute;
    const attribute = DataType.startsWith('Binary') ? { DataType, BinaryValue } : { DataType, StringValue };
    attributes.push([name, attribute]);
    bytes += attributeBytes(
      name,
      DataType,
      attribute.BinaryValue ?? attribute.StringValue ?? '',
      'BinaryValue' in attribute,
    );
  }
  // fromEntries defines each name as an own property, as JSON.parse does: assigned, `__proto__`
  // would set the object's prototype and drop out of the message (and of its MD5).
  return { attributes: Object.fromEntries(attributes), bytes };
}
