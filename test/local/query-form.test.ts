/**
 * The query protocol's forms (SQS's and SNS's awsQuery) are read once into a map, and the parsers
 * look each field up a bounded number of times: a request costs what its fields do, where
 * `URLSearchParams.get` in a loop over numbered fields cost their square.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type FormFields, formFields, numbered } from '../../local/query-form';
import { messageAttributeBytes, parseMessageAttributes, refusedAttribute } from '../../local/sns-publish';
import { queryInput } from '../../local/sqs-query';

/** The fields of a form, counting every look-up the parsers make. */
class CountingFields extends Map<string, string> {
  lookups = 0;
  override get(name: string): string | undefined {
    this.lookups++;
    return super.get(name);
  }
  override has(name: string): boolean {
    this.lookups++;
    return super.has(name);
  }
}

function counting(body: string): CountingFields {
  return new CountingFields(formFields(body));
}

/** A form of `count` numbered groups, `field(n)` each. */
function form(count: number, field: (n: number) => string): string {
  return Array.from({ length: count }, (_, i) => field(i + 1)).join('&');
}

const COUNT = 20_000;

afterEach(() => {
  vi.restoreAllMocks();
});

describe('formFields', () => {
  it('reads the body in one pass, asking URLSearchParams for no field by name', () => {
    const get = vi.spyOn(URLSearchParams.prototype, 'get');
    const has = vi.spyOn(URLSearchParams.prototype, 'has');

    const fields = formFields(form(COUNT, (n) => `AttributeName.${n}=a${n}`));

    expect(fields.size).toBe(COUNT);
    expect(get).not.toHaveBeenCalled();
    expect(has).not.toHaveBeenCalled();
  });

  it('keeps the first value of a repeated field, as URLSearchParams.get does', () => {
    expect(formFields('a=1&b=2&a=3&c=%20x+y')).toEqual(
      new Map([
        ['a', '1'],
        ['b', '2'],
        ['c', ' x y'],
      ]),
    );
  });
});

describe('numbered', () => {
  it.each([
    ['A.1=x&A.2=y&A.3=z', [1, 2, 3]],
    ['A.1=x&A.2=y&A.4=z', [1, 2]],
    ['A.2=y', []],
    ['', []],
  ])('numbers %j as %j', (body, expected) => {
    expect([...numbered(formFields(body), (n) => `A.${n}`)]).toEqual(expected);
  });
});

describe('queryInput', () => {
  it.each<[string, (n: number) => string, (input: Record<string, unknown>) => unknown, number]>([
    [
      'AttributeName.N',
      (n) => `AttributeName.${n}=a${n}`,
      (input) => (input.AttributeNames as []).length,
      COUNT,
    ],
    [
      'MessageAttributeName.N',
      (n) => `MessageAttributeName.${n}=a${n}`,
      (input) => (input.MessageAttributeNames as []).length,
      COUNT,
    ],
    [
      'MessageAttribute.N.*',
      (n) =>
        `MessageAttribute.${n}.Name=a${n}&MessageAttribute.${n}.Value.DataType=String&MessageAttribute.${n}.Value.StringValue=v`,
      (input) => Object.keys(input.MessageAttributes as object).length,
      COUNT,
    ],
    [
      'SendMessageBatchRequestEntry.N.*',
      (n) => `SendMessageBatchRequestEntry.${n}.Id=e${n}&SendMessageBatchRequestEntry.${n}.MessageBody=b`,
      (input) => (input.Entries as []).length,
      COUNT,
    ],
  ])('reads %s fields with a bounded number of look-ups each', (_, field, read, expected) => {
    const fields = counting(form(COUNT, field));

    const input = queryInput(fields);

    expect(read(input)).toBe(expected);
    // Each field is looked up a few times at most, plus the handful of plain parameters.
    expect(fields.lookups).toBeLessThanOrEqual(3 * fields.size + 20);
  });
});

describe('SNS message attributes', () => {
  const body = form(
    5_000,
    (n) =>
      `MessageAttributes.entry.${n}.Name=a${n}&MessageAttributes.entry.${n}.Value.DataType=String` +
      `&MessageAttributes.entry.${n}.Value.StringValue=v`,
  );

  it.each<[string, (fields: FormFields) => unknown]>([
    ['refusedAttribute', refusedAttribute],
    ['messageAttributeBytes', messageAttributeBytes],
    ['parseMessageAttributes', parseMessageAttributes],
  ])('%s looks each field up a bounded number of times', (_, parse) => {
    const fields = counting(body);

    parse(fields);

    expect(fields.lookups).toBeLessThanOrEqual(2 * fields.size + 1);
  });

  it('counts each attribute’s name, type and value bytes, a Binary value decoded', () => {
    const fields = formFields(
      'MessageAttributes.entry.1.Name=ab&MessageAttributes.entry.1.Value.DataType=String' +
        '&MessageAttributes.entry.1.Value.StringValue=%C3%A9' +
        '&MessageAttributes.entry.2.Name=c&MessageAttributes.entry.2.Value.DataType=Binary' +
        '&MessageAttributes.entry.2.Value.BinaryValue=AQID',
    );

    // 'ab' + 'String' + 'é' (2 bytes), then 'c' + 'Binary' + 3 bytes.
    expect(messageAttributeBytes(fields)).toBe(2 + 6 + 2 + (1 + 6 + 3));
  });
});
