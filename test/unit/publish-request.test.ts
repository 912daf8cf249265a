import { describe, expect, it } from 'vitest';
import { parsePublishRequest } from '../../lambdas/core/publish-request';
import { PushError } from '../../lambdas/shared/errors';
import { LIMITS } from '../../lambdas/shared/limits';

const newId = () => 'generated-id';

describe('parsePublishRequest', () => {
  it.each([
    [
      { to: { uid: 'u1' }, data: { orderId: 42 } },
      { id: 'generated-id', to: { uid: 'u1' }, data: { orderId: 42 } },
    ],
    [
      { to: { uids: ['u1', 'u2', 'u1'] }, data: 1 },
      { id: 'generated-id', to: { uids: ['u1', 'u2'] }, data: 1 },
    ],
    [
      { to: { topic: 'orders' }, data: 'x', id: 'order-42' },
      { id: 'order-42', to: { topic: 'orders' }, data: 'x' },
    ],
    [
      { to: { all: true }, data: null },
      { id: 'generated-id', to: { all: true }, data: null },
    ],
    ['{"to":{"uid":"u1"},"data":[1,2]}', { id: 'generated-id', to: { uid: 'u1' }, data: [1, 2] }],
  ])('accepts %j', (body, expected) => {
    const parsed = parsePublishRequest(body, newId);
    expect(parsed).toMatchObject(expected);
    expect(parsed.dataJson).toBe(JSON.stringify(expected.data));
  });

  it.each([
    ['not json', 'bad_request', 'body is not valid JSON'],
    [null, 'bad_request', 'body must be a JSON object'],
    [[1], 'bad_request', 'body must be a JSON object'],
    [{ data: 1 }, 'bad_request', 'to is required'],
    [{ to: 'u1', data: 1 }, 'bad_request', 'to must be an object'],
    [{ to: {}, data: 1 }, 'bad_request', 'to must have exactly one of uid, uids, topic, all'],
    [
      { to: { uid: 'u1', topic: 'orders' }, data: 1 },
      'bad_request',
      'to must have exactly one of uid, uids, topic, all',
    ],
    [{ to: { user: 'u1' }, data: 1 }, 'bad_request', 'unknown field to.user'],
    [
      { to: { uid: '' }, data: 1 },
      'bad_request',
      'to.uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    [
      { to: { uid: 7 }, data: 1 },
      'bad_request',
      'to.uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    [
      { to: { uid: 'a\nb' }, data: 1 },
      'bad_request',
      'to.uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    [
      { to: { uid: 'x'.repeat(129) }, data: 1 },
      'bad_request',
      'to.uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    [{ to: { uids: [] }, data: 1 }, 'bad_request', 'to.uids must be a non-empty array'],
    [{ to: { uids: 'u1' }, data: 1 }, 'bad_request', 'to.uids must be a non-empty array'],
    [
      { to: { uids: ['u1', 2] }, data: 1 },
      'bad_request',
      'to.uids[1] must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    [
      { to: { uids: Array.from({ length: 101 }, (_, i) => `u${i}`) }, data: 1 },
      'bad_request',
      'to.uids must hold at most 100 uids',
    ],
    [{ to: { topic: 'a b' }, data: 1 }, 'bad_request', 'to.topic must match [A-Za-z0-9_.:-]{1,128}'],
    [{ to: { all: 'yes' }, data: 1 }, 'bad_request', 'to.all must be true'],
    [{ to: { uid: 'u1' } }, 'bad_request', 'data is required'],
    [{ to: { uid: 'u1' }, data: 1, id: '' }, 'bad_request', 'id must match [A-Za-z0-9_.:-]{1,128}'],
    [{ to: { uid: 'u1' }, data: 1, id: 5 }, 'bad_request', 'id must match [A-Za-z0-9_.:-]{1,128}'],
    [{ to: { uid: 'u1' }, data: 1, extra: true }, 'bad_request', 'unknown field extra'],
    // A key that is not a plain name is quoted, as in to., kick. and presence., so it cannot forge a line.
    [{ to: { uid: 'u1' }, data: 1, 'a\nb': true }, 'bad_request', 'unknown field "a\\nb"'],
    [
      { uid: 'u1', data: 1 },
      'bad_request',
      'unknown field uid; a target goes inside to, as in {"to":{"uid":…},"data":…}',
    ],
    [
      { topic: 'orders', data: 1 },
      'bad_request',
      'unknown field topic; a target goes inside to, as in {"to":{"topic":…},"data":…}',
    ],
    [
      JSON.parse('{"to":{"uid":"u1"},"data":1,"__proto__":{"polluted":true}}'),
      'bad_request',
      'unknown field __proto__',
    ],
    [
      { to: { uid: 'u1' }, data: 'x'.repeat(128 * 1024) },
      'payload_too_large',
      'data exceeds 130048 bytes when serialized',
    ],
  ])('refuses %j with %s', (body, code, message) => {
    let caught: unknown;
    try {
      parsePublishRequest(body, newId);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(PushError);
    expect(caught).toMatchObject({ code, message });
  });

  /** `depth` levels of alternating objects and arrays around a 1, built without recursion. */
  function nested(depth: number): unknown {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : { k: value };
    return value;
  }

  it.each([
    [LIMITS.maxDataDepth, true],
    [LIMITS.maxDataDepth + 1, false],
    [5_000, false],
    [200_000, false],
  ])('checks data nested %i deep before serializing it (accepted: %s)', (depth, accepted) => {
    const body = { to: { uid: 'u1' }, data: nested(depth) };
    if (accepted) {
      expect(parsePublishRequest(body, newId).dataJson).toBe(JSON.stringify(body.data));
      return;
    }
    expect(() => parsePublishRequest(body, newId)).toThrow(
      expect.objectContaining({
        code: 'bad_request',
        message: `data nests arrays and objects more than ${LIMITS.maxDataDepth} levels deep`,
      }),
    );
  });

  it.each([
    ['a number past a double', '1e400'],
    ['a negative one', '-1e400'],
    ['one inside an object', '{"total":1e999}'],
    ['one deep in arrays', '[1,[2,[3,[1e400]]]]'],
  ])('refuses data holding %s, which would arrive as null, with bad_request', (_, data) => {
    const text = `{"to":{"uid":"u1"},"data":${data}}`;
    expect(() => parsePublishRequest(text, newId)).toThrow(
      expect.objectContaining({
        code: 'bad_request',
        message: 'data holds a number too large for JSON (such as 1e400), which would arrive as null',
      }),
    );
  });

  it.each([
    ['the largest double', '1.7976931348623157e308'],
    ['the smallest', '5e-324'],
    ['an underflow to zero', '1e-400'],
    ['negative zero', '-0'],
  ])('takes %s as JSON carries it', (_, data) => {
    const text = `{"to":{"uid":"u1"},"data":[${data}]}`;
    expect(parsePublishRequest(text, newId).dataJson).toBe(JSON.stringify(JSON.parse(`[${data}]`)));
  });

  it('refuses deep data sent as JSON text (as SNS and HTTP bring it) with bad_request', () => {
    const text = `{"to":{"uid":"u1"},"data":${'['.repeat(100_000)}1${']'.repeat(100_000)}}`;
    expect(() => parsePublishRequest(text, newId)).toThrow(expect.objectContaining({ code: 'bad_request' }));
  });

  it('accepts wide data up to the size limit, and refuses it past that with payload_too_large', () => {
    const wide = Array.from({ length: 20_000 }, (_, i) => i);
    expect(parsePublishRequest({ to: { uid: 'u1' }, data: wide }, newId).data).toBe(wide);
    const wider = Array.from({ length: 200_000 }, (_, i) => i);
    expect(() => parsePublishRequest({ to: { uid: 'u1' }, data: wider }, newId)).toThrow(
      expect.objectContaining({ code: 'payload_too_large' }),
    );
  });

  it('generates a fresh id per publish when none is given', () => {
    const a = parsePublishRequest({ to: { uid: 'u1' }, data: 1 });
    const b = parsePublishRequest({ to: { uid: 'u1' }, data: 1 });
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(a.id).not.toBe(b.id);
  });
});
