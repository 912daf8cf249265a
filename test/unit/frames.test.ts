import { describe, expect, it } from 'vitest';
import { encodeFrame, encodeMessage, messageFrame, parseClientFrame } from '../../lambdas/core/frames';
import { BadRequestError, PayloadTooLargeError } from '../../lambdas/shared/errors';

describe('parseClientFrame', () => {
  it.each([
    ['{"action":"ping"}', { action: 'ping' }],
    ['{"action":"subscribe","topic":"orders"}', { action: 'subscribe', topic: 'orders' }],
    ['{"action":"unsubscribe","topic":"a.b:c-d_e"}', { action: 'unsubscribe', topic: 'a.b:c-d_e' }],
    [`{"action":"subscribe","topic":"${'x'.repeat(128)}"}`, { action: 'subscribe', topic: 'x'.repeat(128) }],
    ['{"action":"ping","extra":1}', { action: 'ping' }],
    ['{"action":"resume","since":0}', { action: 'resume', since: 0 }],
    ['{"action":"resume","since":42,"topic":"orders"}', { action: 'resume', since: 42, topic: 'orders' }],
    ['{"action":"resume","since":3,"epoch":"Ab_-9"}', { action: 'resume', since: 3, epoch: 'Ab_-9' }],
    [
      '{"action":"resume","since":3,"topic":"orders","epoch":"e1"}',
      { action: 'resume', since: 3, topic: 'orders', epoch: 'e1' },
    ],
  ])('accepts %s', (body, expected) => {
    expect(parseClientFrame(body)).toEqual(expected);
  });

  it.each([
    [undefined, 'empty frame: send a JSON object with an "action"'],
    ['', 'empty frame: send a JSON object with an "action"'],
    ['hello', 'frame is not valid JSON'],
    ['{"action":', 'frame is not valid JSON'],
    ['[1,2]', 'frame must be a JSON object'],
    ['null', 'frame must be a JSON object'],
    ['"ping"', 'frame must be a JSON object'],
    ['{}', 'missing "action"'],
    ['{"action":42}', '"action" must be a string'],
    ['{"action":"nope"}', 'unknown action "nope"; expected one of ping, subscribe, unsubscribe, resume'],
    ['{"action":"subscribe"}', 'missing "topic"'],
    ['{"action":"subscribe","topic":""}', '"topic" must match [A-Za-z0-9_.:-]{1,128}'],
    ['{"action":"subscribe","topic":"a b"}', '"topic" must match [A-Za-z0-9_.:-]{1,128}'],
    ['{"action":"subscribe","topic":"orders*"}', '"topic" must match [A-Za-z0-9_.:-]{1,128}'],
    [`{"action":"subscribe","topic":"${'x'.repeat(129)}"}`, '"topic" must match [A-Za-z0-9_.:-]{1,128}'],
    ['{"action":"unsubscribe","topic":7}', '"topic" must match [A-Za-z0-9_.:-]{1,128}'],
    ['{"__proto__":{"action":"ping"}}', 'missing "action"'],
    ['{"action":"resume"}', 'missing "since"'],
    ['{"action":"resume","since":-1}', '"since" must be a non-negative integer'],
    ['{"action":"resume","since":1.5}', '"since" must be a non-negative integer'],
    ['{"action":"resume","since":"3"}', '"since" must be a non-negative integer'],
    ['{"action":"resume","since":1,"topic":"a b"}', '"topic" must match [A-Za-z0-9_.:-]{1,128}'],
    ['{"action":"resume","since":1,"epoch":7}', '"epoch" must match [A-Za-z0-9_-]{1,32}'],
    ['{"action":"resume","since":1,"epoch":""}', '"epoch" must match [A-Za-z0-9_-]{1,32}'],
    [`{"action":"resume","since":1,"epoch":"${'e'.repeat(33)}"}`, '"epoch" must match [A-Za-z0-9_-]{1,32}'],
  ])('refuses %j with bad_request: %s', (body, message) => {
    const error = (() => {
      try {
        parseClientFrame(body);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BadRequestError);
    expect(error).toMatchObject({ code: 'bad_request', message });
  });

  it('refuses a frame over 8 KiB with payload_too_large', () => {
    const body = JSON.stringify({ action: 'ping', pad: 'x'.repeat(8 * 1024) });
    expect(() => parseClientFrame(body)).toThrow(PayloadTooLargeError);
  });
});

describe('server frames', () => {
  it('omits topic for a uid push and keeps it for a topic push', () => {
    expect(encodeFrame(messageFrame('p1', { orderId: 42 }, 1000))).toBe(
      '{"type":"message","id":"p1","data":{"orderId":42},"ts":1000}',
    );
    expect(encodeFrame(messageFrame('p1', null, 1000, 'orders'))).toBe(
      '{"type":"message","id":"p1","topic":"orders","data":null,"ts":1000}',
    );
  });
});

describe('encodeMessage', () => {
  it.each([
    [
      { id: 'p1', dataJson: '{"n":1}', ts: 5 },
      { type: 'message', id: 'p1', data: { n: 1 }, ts: 5 },
    ],
    [
      { id: 'p1', seq: 7, dataJson: '"x"', ts: 5 },
      { type: 'message', id: 'p1', seq: 7, data: 'x', ts: 5 },
    ],
    [
      { id: 'p"1', topic: 'orders', seq: 2, dataJson: 'null', ts: 5 },
      { type: 'message', id: 'p"1', topic: 'orders', seq: 2, data: null, ts: 5 },
    ],
  ])('serializes %j exactly as encodeFrame would', (parts, frame) => {
    expect(encodeMessage(parts)).toBe(JSON.stringify(frame));
  });
});
