/**
 * SQS's checks on a message's attributes, as a table of what a client sends and what SQS answers.
 */
import { describe, expect, it } from 'vitest';
import { sqsMessageAttributes } from '../../local/message-attributes';

const text = (StringValue: string, DataType = 'String') => ({ DataType, StringValue });
const many = (count: number) =>
  Object.fromEntries(Array.from({ length: count }, (_, i) => [`a${i}`, text('v')]));

describe('sqsMessageAttributes', () => {
  it.each<[string, unknown, string]>([
    ['eleven attributes', many(11), 'Number of message attributes [11] exceeds the allowed maximum [10].'],
    [
      '20,000 attributes',
      many(20_000),
      'Number of message attributes [20000] exceeds the allowed maximum [10].',
    ],
    ['a list', [text('v')], 'MessageAttributes must be a map'],
    ['a string', 'x', 'MessageAttributes must be a map'],
    [
      'a null attribute',
      { x: null },
      "The message attribute 'x' must contain non-empty message attribute type.",
    ],
    [
      'a string attribute',
      { x: 'v' },
      "The message attribute 'x' must contain non-empty message attribute type.",
    ],
    [
      'no DataType',
      { x: { StringValue: 'v' } },
      "The message attribute 'x' must contain non-empty message attribute type.",
    ],
    [
      'an empty DataType',
      { x: text('v', '') },
      "The message attribute 'x' must contain non-empty message attribute type.",
    ],
    [
      'a DataType that is no string',
      { x: { DataType: 7, StringValue: 'v' } },
      "The message attribute 'x' must contain non-empty message attribute type.",
    ],
    [
      'an unknown type',
      { x: text('3', 'Integer') },
      "The message attribute 'x' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
    ],
    [
      'a type in lower case',
      { x: text('v', 'string') },
      "The message attribute 'x' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.",
    ],
    [
      'a type of 257 characters',
      { x: text('v', `String.${'a'.repeat(250)}`) },
      "Message (user) attribute 'x' type must be at most 256 characters long.",
    ],
    [
      'a String with no StringValue',
      { x: { DataType: 'String', BinaryValue: 'AQI=' } },
      "Message (user) attribute 'x' must contain a non-empty value of type 'String'.",
    ],
    [
      'an empty String',
      { x: text('') },
      "Message (user) attribute 'x' must contain a non-empty value of type 'String'.",
    ],
    [
      'a Binary with only a StringValue',
      { x: text('v', 'Binary') },
      "Message (user) attribute 'x' must contain a non-empty value of type 'Binary'.",
    ],
    [
      'a Number of letters',
      { x: text('abc', 'Number') },
      "Can't cast the value of message (user) attribute 'x' to a number.",
    ],
    [
      'a Number of NaN',
      { x: text('NaN', 'Number') },
      "Can't cast the value of message (user) attribute 'x' to a number.",
    ],
    [
      'an empty Number',
      { x: text('', 'Number') },
      "Can't cast the value of message (user) attribute 'x' to a number.",
    ],
    ['an empty name', { '': text('v') }, 'The request must contain non-empty message attribute name.'],
    [
      'a name with a section sign',
      { 'a§b': text('v') },
      'Message (user) attributes name can only contain upper and lower score characters, digits, periods, hyphens and underscores. ',
    ],
    [
      'a String value holding a backspace',
      { x: text('a\bb') },
      "Message (user) attribute 'x' value holds a character SQS does not allow; it takes those a message body may hold.",
    ],
    [
      'a String value holding a vertical tab',
      { x: text('a\u000bb') },
      "Message (user) attribute 'x' value holds a character SQS does not allow; it takes those a message body may hold.",
    ],
    [
      'a name with a space',
      { 'a b': text('v') },
      'Message (user) attributes name can only contain upper and lower score characters, digits, periods, hyphens and underscores. ',
    ],
    [
      'a name of 257 characters',
      { ['a'.repeat(257)]: text('v') },
      'Message (user) attribute name must be at most 256 characters long.',
    ],
    [
      'a name starting with a period',
      { '.a': text('v') },
      "Message (user) attribute name '.a' must not start or end with '.' nor hold successive '.' characters.",
    ],
    [
      'a name with two periods in a row',
      { 'a..b': text('v') },
      "Message (user) attribute name 'a..b' must not start or end with '.' nor hold successive '.' characters.",
    ],
    [
      'a name in the AWS. namespace',
      { 'aWs.trace': text('v') },
      "Message (user) attribute name 'aWs.trace' starts with a prefix reserved for AWS (AWS. or Amazon.).",
    ],
    [
      'a name in the Amazon. namespace',
      { 'Amazon.x': text('v') },
      "Message (user) attribute name 'Amazon.x' starts with a prefix reserved for AWS (AWS. or Amazon.).",
    ],
  ])('refuses %s', (_, attributes, refused) => {
    expect(sqsMessageAttributes(attributes)).toEqual({ refused });
  });

  it('takes ten attributes of every type, keeps the value each type carries, and counts their bytes', () => {
    const given = {
      // Latin-1 letters in a name, and a tab and a line break in a value, as SQS takes them.
      'attr.1øßä': text('é\tand\nbreak'),
      n: text('-1.5e3', 'Number'),
      b: { DataType: 'Binary', BinaryValue: 'AQID', StringValue: 'dropped' },
      'custom.label': text('{}', 'String.json'),
      'Foo_Bar-1.2': text('7', 'Number.int'),
      AWSfoo: text('v'),
      [`a${'b'.repeat(255)}`]: text('v'),
      __proto__x: text('v'),
      t: text('v', `String.${'a'.repeat(249)}`),
      g: { DataType: 'Binary.gif', BinaryValue: 'R0lG' },
    };

    const out = sqsMessageAttributes(given);

    expect(out).toEqual({
      attributes: {
        ...given,
        b: { DataType: 'Binary', BinaryValue: 'AQID' },
      },
      bytes: Object.entries(given).reduce(
        (sum, [name, a]) =>
          sum +
          Buffer.byteLength(name) +
          Buffer.byteLength(a.DataType) +
          ('BinaryValue' in a
            ? Buffer.from(a.BinaryValue, 'base64').length
            : Buffer.byteLength(a.StringValue)),
        0,
      ),
    });
  });

  it('keeps an attribute named __proto__ as an attribute of its own', () => {
    const out = sqsMessageAttributes(JSON.parse('{"__proto__":{"DataType":"String","StringValue":"v"}}'));

    expect(out).toEqual({
      attributes: JSON.parse('{"__proto__":{"DataType":"String","StringValue":"v"}}'),
      bytes: 16,
    });
    expect(Object.keys((out as { attributes: object }).attributes)).toEqual(['__proto__']);
  });

  it.each([undefined, null])('takes %s as no attributes', (value) => {
    expect(sqsMessageAttributes(value)).toEqual({ bytes: 0 });
  });
});
