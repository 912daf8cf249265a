/**
 * The emulator's pure parts, table-driven: authorizer verdicts, IAM wildcards, frame metering
 * across TCP chunk boundaries, route selection, close reasons, ids, throttling, and the parsers
 * behind the Lambda and SNS endpoints.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { devTokenRequest, splitTopics } from '../../local/dev-token';
import { deliveredContext, evaluateAuthorizerResult, iamMatch } from '../../local/emulator/authorizer-result';
import { closeCodeForReadError, disconnectReason } from '../../local/emulator/close-codes';
import { queryParameters } from '../../local/emulator/events';
import { FrameMeter, FrameMeters } from '../../local/emulator/frame-meter';
import { tooManyRequests } from '../../local/emulator/gateway';
import { gatewayId, requestTime } from '../../local/emulator/ids';
import { HOLD_BACK_MS, MAX_HOLD_BACK_MS, nextHoldMs, TokenBucket } from '../../local/emulator/rate-limit';
import { selectRoute } from '../../local/emulator/routes';
import { parseFunctionName } from '../../local/lambda-invoke';
import { formFields } from '../../local/query-form';
import { parseMessageAttributes } from '../../local/sns-publish';
import { queryInput } from '../../local/sqs-query';

const ARN = 'arn:aws:execute-api:us-east-1:000000000000:localpush0/local/$connect';

function result(statements: unknown, context?: unknown, principalId: unknown = 'u1') {
  return { principalId, policyDocument: { Version: '2012-10-17', Statement: statements }, context };
}

const allow = { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: ARN };

describe('evaluateAuthorizerResult', () => {
  it.each([
    ['an Allow on the method ARN', 'allow', result([allow])],
    ['a single Statement object', 'allow', result(allow)],
    [
      'an Allow on a wildcard ARN',
      'allow',
      result([{ ...allow, Resource: 'arn:aws:execute-api:*:*:localpush0/*' }]),
    ],
    ['Action execute-api:*', 'allow', result([{ ...allow, Action: 'execute-api:*' }])],
    ['Action lists', 'allow', result([{ ...allow, Action: ['s3:GetObject', 'execute-api:Invoke'] }])],
    ['an explicit Deny', 'deny', result([{ ...allow, Effect: 'Deny' }])],
    ['a Deny next to an Allow', 'deny', result([allow, { ...allow, Effect: 'Deny' }])],
    [
      'an Allow on another route',
      'deny',
      result([{ ...allow, Resource: ARN.replace('$connect', '$default') }]),
    ],
    ['an Allow for another action', 'deny', result([{ ...allow, Action: 's3:GetObject' }])],
    ['no statements', 'deny', result([])],
    ['no object at all', 'invalid', undefined],
    ['no principalId', 'invalid', result([allow], {}, null)],
    ['no policyDocument', 'invalid', { principalId: 'u1' }],
    ['an object in the context', 'invalid', result([allow], { a: { b: 1 } })],
    ['an array in the context', 'invalid', result([allow], { a: [1] })],
    ['a result over 8 KB', 'invalid', result([allow], { big: 'x'.repeat(9000) })],
  ])('judges %s as %s', (_case, kind, answer) => {
    expect(evaluateAuthorizerResult(answer, ARN, 1).kind).toBe(kind);
  });
});

describe('deliveredContext', () => {
  it('stringifies numbers and booleans, keeps strings and null, drops undefined, adds principalId and latency', () => {
    expect(
      deliveredContext({ s: 'a', n: 7, f: 0.5, t: true, x: false, z: null, u: undefined }, 'p1', 12),
    ).toEqual({
      s: 'a',
      n: '7',
      f: '0.5',
      t: 'true',
      x: 'false',
      z: null,
      principalId: 'p1',
      integrationLatency: 12,
    });
  });

  it('gives just principalId and latency when there is no context', () => {
    expect(deliveredContext(undefined, 'p1', 0)).toEqual({ principalId: 'p1', integrationLatency: 0 });
  });
});

describe('iamMatch', () => {
  it.each([
    ['*', 'anything', true],
    ['arn:aws:execute-api:*:*:api/*', 'arn:aws:execute-api:us-east-1:1:api/local/$connect', true],
    [
      'arn:aws:execute-api:us-east-1:1:api/local/$connect',
      'arn:aws:execute-api:us-east-1:1:api/local/$connect',
      true,
    ],
    [
      'arn:aws:execute-api:us-east-1:1:api/local/$connec?',
      'arn:aws:execute-api:us-east-1:1:api/local/$connect',
      true,
    ],
    [
      'arn:aws:execute-api:us-east-1:1:api/prod/*',
      'arn:aws:execute-api:us-east-1:1:api/local/$connect',
      false,
    ],
    ['a.b', 'axb', false],
  ])('matches %s against %s: %s', (pattern, value, expected) => {
    expect(iamMatch(pattern, value)).toBe(expected);
  });
});

/** A masked client frame: FIN + opcode, then the length in 7, 16 or 64 bits, a mask and the payload. */
function clientFrame(opcode: number, length: number): Buffer {
  const header =
    length < 126
      ? Buffer.from([0x80 | opcode, 0x80 | length])
      : length < 65536
        ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
        : Buffer.concat([
            Buffer.from([0x80 | opcode, 0x80 | 127]),
            Buffer.from(new BigUint64Array([0n]).buffer),
          ]);
  if (length >= 65536) header.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([header, Buffer.from([1, 2, 3, 4]), Buffer.alloc(length, 0x61)]);
}

describe('FrameMeter', () => {
  it.each([
    ['a small text frame', [clientFrame(1, 10)], undefined],
    ['a 16-bit length frame at the limit', [clientFrame(1, 32768)], undefined],
    ['a 16-bit length frame over the limit', [clientFrame(1, 32769)], 32769],
    ['a 64-bit length frame', [clientFrame(2, 70000)], 70000],
    ['a continuation frame over the limit', [clientFrame(0, 40000)], 40000],
    [
      'frames that fit, back to back',
      [Buffer.concat([clientFrame(1, 100), clientFrame(0, 32768), clientFrame(9, 4)])],
      undefined,
    ],
  ])('reports %s', (_case, chunks, expected) => {
    const meter = new FrameMeter(32768);
    expect(chunks.map((chunk) => meter.feed(chunk)).find((v) => v !== undefined)).toBe(expected);
  });

  it('finds an oversized frame whose header is split across chunks, byte by byte', () => {
    const stream = Buffer.concat([clientFrame(1, 500), clientFrame(1, 40000)]);
    const meter = new FrameMeter(32768);
    let found: number | undefined;
    for (let i = 0; i < 520; i++) found ??= meter.feed(stream.subarray(i, i + 1));
    found ??= meter.feed(stream.subarray(520));
    expect(found).toBe(40000);
  });
});

describe('FrameMeters', () => {
  it('meters each socket on its own with one listener, reports each oversized socket once and stops metering it', async () => {
    const oversized: [string, number][] = [];
    const names = new Map<unknown, string>();
    const meters = new FrameMeters(32768, (socket, bytes) =>
      oversized.push([names.get(socket) ?? '?', bytes]),
    );
    const [a, b] = [new PassThrough(), new PassThrough()];
    names.set(a, 'a');
    names.set(b, 'b');
    const seen: string[] = [];
    for (const [socket, name] of [[a, 'a'] as const, [b, 'b'] as const]) {
      socket.on('data', () => seen.push(name));
      meters.watch(socket);
      // Prepended: the meter sees each chunk before the listener ws would have added.
      expect(socket.listeners('data')[0]).toBe(a.listeners('data')[0]);
    }
    // a's header split over two chunks, b's whole; a over the limit, b under it.
    const big = clientFrame(1, 40000);
    a.write(big.subarray(0, 3));
    b.write(clientFrame(1, 100));
    a.write(big.subarray(3));
    a.write(clientFrame(1, 50000));
    b.write(clientFrame(2, 70000));
    // Whatever the streams emit on a later tick has been emitted by the next macrotask.
    await new Promise((resolve) => setImmediate(resolve));
    expect(oversized).toEqual([
      ['a', 40000],
      ['b', 70000],
    ]);
    expect(a.listenerCount('data')).toBe(1);
    expect(b.listenerCount('data')).toBe(1);
    expect(seen.filter((name) => name === 'a')).toHaveLength(3);
  });
});

describe('selectRoute', () => {
  const routes = new Set(['$connect', '$disconnect', '$default', 'sendmessage']);

  it.each([
    ['{"action":"nope"}', '$default'],
    ['{"action":"sendmessage"}', 'sendmessage'],
    ['{"action":"$connect"}', '$default'],
    ['{"action":42}', '$default'],
    ['{"other":"x"}', '$default'],
    ['[1,2]', '$default'],
    ['not json', '$default'],
    ['', '$default'],
  ])('sends %s to %s', (body, route) => {
    expect(selectRoute(body, routes)).toBe(route);
  });

  it('selects nothing when there is no $default and no route matches', () => {
    expect(selectRoute('{"action":"nope"}', new Set(['$connect']))).toBeUndefined();
  });
});

describe('close codes', () => {
  it.each([
    [1000, '', 'Connection Closed Normally'],
    [1000, 'bye', 'bye'],
    [1001, '', 'Going away'],
    [1005, '', 'Client-side close frame status not set'],
    [1006, '', 'Connection closed abnormally'],
    [1009, '', 'Message too big'],
    [4001, '', 'Closed with status 4001'],
  ])('reports close %i (peer reason %j) as %j', (code, peer, reason) => {
    expect(disconnectReason(code, peer)).toBe(reason);
  });

  it.each([
    ['WS_ERR_UNSUPPORTED_MESSAGE_LENGTH', 1009],
    ['WS_ERR_INVALID_UTF8', 1007],
    ['WS_ERR_INVALID_OPCODE', 1002],
    [undefined, 1002],
  ])('maps the ws read error %s to %i', (code, status) => {
    expect(closeCodeForReadError(code)).toBe(status);
  });
});

describe('ids and times', () => {
  it('makes 16-character ids ending in =, all different', () => {
    const ids = new Set(Array.from({ length: 1000 }, gatewayId));
    expect(ids.size).toBe(1000);
    for (const id of ids) expect(id).toMatch(/^[A-Za-z0-9_-]{15}=$/);
  });

  it('writes the Too Many Requests answer as JSON.stringify would, with a fresh request id each time', () => {
    const connectionId = gatewayId();
    const [first, second] = [tooManyRequests(connectionId), tooManyRequests(connectionId)];
    const parsed = JSON.parse(first) as { requestId: string };

    expect(first).toBe(
      JSON.stringify({ message: 'Too Many Requests', connectionId, requestId: parsed.requestId }),
    );
    expect(parsed.requestId).toMatch(/^[A-Za-z0-9_-]{15}=$/);
    const next = JSON.parse(second) as { requestId: string };
    expect(next).toEqual({ ...parsed, requestId: next.requestId });
    expect(next.requestId).not.toBe(parsed.requestId);
  });

  it('writes requestTime as API Gateway does', () => {
    expect(requestTime(Date.UTC(2026, 10, 2, 3, 4, 5))).toBe('02/Nov/2026:03:04:05 +0000');
  });

  it('gives query parameters in both shapes, last value winning in the single one', () => {
    expect(queryParameters(new URLSearchParams('token=a&t=1&t=2'))).toEqual({
      queryStringParameters: { token: 'a', t: '2' },
      multiValueQueryStringParameters: { token: ['a'], t: ['1', '2'] },
    });
    expect(queryParameters(new URLSearchParams(''))).toEqual({});
  });
});

describe('TokenBucket', () => {
  it('allows a one-second burst, then refills at the rate', () => {
    const bucket = new TokenBucket(2, 0);
    expect([bucket.take(0), bucket.take(0), bucket.take(0)]).toEqual([true, true, false]);
    expect(bucket.take(499)).toBe(false);
    expect(bucket.take(501)).toBe(true);
  });
});

describe('nextHoldMs', () => {
  it.each([
    ['a first hold', undefined, 1_000, HOLD_BACK_MS],
    ['held again as the last hold ended', { ms: 25, endsAt: 1_000 }, 1_000, 50],
    ['held again just inside twice the last hold', { ms: 100, endsAt: 1_000 }, 1_199, 200],
    ['held again after a pause of twice the last hold', { ms: 100, endsAt: 1_000 }, 1_200, HOLD_BACK_MS],
    ['held again long after', { ms: 400, endsAt: 1_000 }, 60_000, HOLD_BACK_MS],
    ['at the longest hold already', { ms: MAX_HOLD_BACK_MS, endsAt: 1_000 }, 1_001, MAX_HOLD_BACK_MS],
    ['doubling past the longest', { ms: 0.75 * MAX_HOLD_BACK_MS, endsAt: 1_000 }, 1_001, MAX_HOLD_BACK_MS],
  ] as const)('%s', (_, last, now, expected) => {
    expect(nextHoldMs(last, now)).toBe(expected);
  });

  it('reaches the longest hold after a few holds in a row, from the first', () => {
    const holds: number[] = [];
    let last: { ms: number; endsAt: number } | undefined;
    for (let now = 0; holds.length < 8; now = last.endsAt) {
      const ms = nextHoldMs(last, now);
      holds.push(ms);
      last = { ms, endsAt: now + ms };
    }
    expect(holds).toEqual([25, 50, 100, 200, 400, 400, 400, 400]);
  });
});

describe('parsers behind the Lambda and SNS endpoints', () => {
  it.each([
    ['publish', { name: 'publish' }],
    ['publish:$LATEST', { name: 'publish', qualifier: '$LATEST' }],
    ['arn:aws:lambda:us-east-1:000000000000:function:publish', { name: 'publish' }],
    ['000000000000:function:publish:prod', { name: 'publish', qualifier: 'prod' }],
  ])('finds the function name in %s', (raw, expected) => {
    expect(parseFunctionName(raw)).toEqual(expected);
  });

  it('reads awsQuery message attributes into the event map', () => {
    const form = formFields(
      'MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=String' +
        '&MessageAttributes.entry.1.Value.StringValue=v&MessageAttributes.entry.2.Name=b' +
        '&MessageAttributes.entry.2.Value.DataType=Binary&MessageAttributes.entry.2.Value.BinaryValue=AQI%3D',
    );
    expect(parseMessageAttributes(form)).toEqual({
      a: { Type: 'String', Value: 'v' },
      b: { Type: 'Binary', Value: 'AQI=' },
    });
  });

  it('keeps an SQS query-protocol message attribute named __proto__, as the JSON protocol does', () => {
    const form = formFields(
      'QueueUrl=q&MessageBody=m&MessageAttribute.1.Name=__proto__' +
        '&MessageAttribute.1.Value.DataType=String&MessageAttribute.1.Value.StringValue=v',
    );
    expect(queryInput(form)).toEqual(
      JSON.parse(
        '{"QueueUrl":"q","MessageBody":"m","MessageAttributes":{"__proto__":{"DataType":"String","StringValue":"v"}}}',
      ),
    );
  });

  it('keeps an attribute named __proto__ as an attribute of its own', () => {
    const form = formFields(
      'MessageAttributes.entry.1.Name=__proto__&MessageAttributes.entry.1.Value.DataType=String' +
        '&MessageAttributes.entry.1.Value.StringValue=v',
    );
    const attributes = parseMessageAttributes(form);
    expect(Object.keys(attributes)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(attributes)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(attributes))).toEqual(
      JSON.parse('{"__proto__":{"Type":"String","Value":"v"}}'),
    );
  });
});

describe('dev token requests', () => {
  it.each([
    [['u1', ['a,b', 'c'], undefined], { uid: 'u1', topics: ['a', 'b', 'c'], ttlSeconds: 3600 }],
    [['u1', [], '60'], { uid: 'u1', topics: [], ttlSeconds: 60 }],
    [['', [], undefined], 'uid is required, as in /dev/token?uid=u1'],
    [
      ['a\u0000b', [], undefined],
      'uid must be 1-128 Unicode code points with no control characters (C0, C1), line or paragraph separators, bidi controls or lone surrogates',
    ],
    [['u1', ['bad topic'], undefined], 'topics must be topic names or prefix* patterns'],
    [
      ['u1', Array.from({ length: 101 }, (_, i) => `t${i}`), undefined],
      'topics must name at most 100 topics or patterns',
    ],
    [['u1', [], '-5'], 'ttl must be a whole number of seconds from 1 to 86400'],
  ] as const)('validates %j', ([uid, topics, ttl], expected) => {
    expect(devTokenRequest(uid, topics, ttl)).toEqual(expected);
  });

  it('splits comma-separated topic lists and drops blanks', () => {
    expect(splitTopics(['a, b', '', 'c,'])).toEqual(['a', 'b', 'c']);
  });
});
