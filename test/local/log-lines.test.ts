/**
 * A readable log line carries text a caller chose (a field name it sent, a path): printed on the
 * developer's terminal, it must stay one line and never reach the terminal as a control sequence.
 * The stack's own lines (local/logger.ts) and the handlers' lines printed readably
 * (local/handler-output.ts) escape it; the publish function names a refused field safely.
 */
import { describe, expect, it } from 'vitest';
import { fieldName } from '../../lambdas/core/json';
import { parsePublishRequest } from '../../lambdas/core/publish-request';
import { prettyLogLine } from '../../local/handler-output';
import { consoleLogger, formatValue, printable } from '../../local/logger';

/** Any character a terminal acts on or that breaks a line (the set local/logger.ts escapes). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/;

/** What a hostile publisher put in a field name: a forged second line, a screen clear, a C1 CSI. */
const FORGED = 'x\n00:00:00.000 error push: DynamoDB is gone\u001b[2J\u009b31m\u2028';

describe('printable', () => {
  it.each([
    ['plain text', 'plain text'],
    ['a\nb', 'a\\u000ab'],
    ['\u001b[31m', '\\u001b[31m'],
    ['\u009b31m', '\\u009b31m'],
    ['\u007f', '\\u007f'],
    ['a\u2028b\u2029', 'a\\u2028b\\u2029'],
    ['tab\there', 'tab\\u0009here'],
    ['é ☃ 😀', 'é ☃ 😀'],
  ])('writes %j as %j', (text, expected) => {
    expect(printable(text)).toBe(expected);
  });
});

describe('formatValue', () => {
  it.each([
    ['abc=', 'abc='],
    ['two words', '"two words"'],
    ['a\nb', '"a\\nb"'],
    ['\u009b2J', '"\\u009b2J"'],
    [{ nested: '\u001b' }, '{"nested":"\\u001b"}'],
    [new Error('line\u2028break'), '"line\\u2028break"'],
  ])('prints %j as %s', (value, expected) => {
    expect(formatValue(value)).toBe(expected);
  });
});

describe('a line with caller text on it', () => {
  it("stays one line, with no control character, in the stack's own log", () => {
    const lines: string[] = [];
    consoleLogger('debug', (line) => lines.push(line) > 0).warn(`refused ${FORGED}`, { [FORGED]: FORGED });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.slice(0, -1)).not.toMatch(CONTROL);
    expect(lines[0]?.endsWith('\n')).toBe(true);
  });

  it("stays one line, with no control character, among the handlers' lines printed readably", () => {
    const line = prettyLogLine({
      level: 'WARN',
      message: 'SNS message rejected',
      timestamp: '2026-12-04T19:00:00.000Z',
      service: 'push',
      reason: `unknown field to.${FORGED}`,
    });
    expect(line?.slice(0, -1)).not.toMatch(CONTROL);
    expect(line).toMatch(
      /^19:00:00\.000 warn {2}push: SNS message rejected reason="unknown field to\.x\\n00/,
    );
  });
});

describe('fieldName', () => {
  it.each([
    ['user', 'user'],
    ['group_2-b$', 'group_2-b$'],
    ['two words', '"two words"'],
    ['x\ny', '"x\\ny"'],
    ['k'.repeat(65), JSON.stringify('k'.repeat(64))],
  ])('names %j as %s', (key, expected) => {
    expect(fieldName(key)).toBe(expected);
  });

  it("quotes a refused target field's name in the publish function's answer", () => {
    expect(() => parsePublishRequest({ to: { uid: 'u1', [FORGED]: 1 }, data: 1 })).toThrow(
      `unknown field to.${JSON.stringify(FORGED)}`,
    );
  });
});
