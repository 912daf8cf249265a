/**
 * Generators of hostile input for the end-to-end fuzzing (fuzz-e2e.test.ts and the soak): client
 * frames for `$default` and bodies for `POST /publish`. The same families as the pure-parser fuzz
 * in test/unit/fuzz.test.ts (random JSON, wrong types, huge strings, deep nesting, binary and
 * invalid UTF-8, prototype-pollution keys), plus bodies past the size limits; and the oracles: what
 * the pure parsers say each input must get.
 */
import fc from 'fast-check';
import { parseCommand } from '../../lambdas/core/command';
import { parseClientFrame } from '../../lambdas/core/frames';
import { isValidTopic } from '../../lambdas/core/topics';
import { PushError } from '../../lambdas/shared/errors';
import { LIMITS } from '../../lambdas/shared/limits';

/** Keys that pollute prototypes when code copies objects carelessly. */
export const protoKeys = fc.constantFrom(
  '__proto__',
  'constructor',
  'prototype',
  'toString',
  'hasOwnProperty',
);
const key = fc.oneof(
  fc.string({ maxLength: 12 }),
  protoKeys,
  fc.constantFrom('action', 'topic', 'since', 'to', 'data', 'id', 'uid', 'uids', 'all', 'kick', 'presence'),
);
/** JSON scalars, binary strings and the protocol's own words. */
export const scalar = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(
    'ping',
    'subscribe',
    'unsubscribe',
    'resume',
    'orders',
    'u1',
    '*',
    '',
    '$connect',
    '$disconnect',
  ),
);
/** Any JSON value, nested a little, with protocol and prototype keys. */
export const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: 'small', withCrossShrink: true }, scalar, tie('array'), tie('object')),
  array: fc.array(tie('node'), { maxLength: 4 }),
  object: fc.dictionary(key, tie('node'), { maxKeys: 5 }),
})).node;

/**
 * Arrays and objects nested `depth` deep around `leaf` (alternating, objects keyed `key`), built
 * in a loop so that building it never recurses.
 */
export function nestedValue(depth: number, key = 'k', leaf: unknown = 1): unknown {
  let node: unknown = leaf;
  for (let i = 0; i < depth; i++) node = i % 2 === 0 ? [node] : { [key]: node };
  return node;
}

/**
 * Deep values for `data`: around the depth limit, and far past it, with protocol and prototype
 * keys. Not deeper than 1,000: the tests themselves serialize every input (to check it was not
 * mutated, to send it), and V8's JSON.stringify, recursive, overflowed now and then at ~3,000
 * levels on a stack a test runner had already used; what the parser refuses at 33 it refuses at
 * any depth, and the frame fuzz still sends text nested 5,000 deep.
 */
export const deepValue: fc.Arbitrary<unknown> = fc
  .record({
    depth: fc.oneof(fc.integer({ min: 28, max: 36 }), fc.integer({ min: 1, max: 1_000 })),
    key,
    leaf: scalar,
  })
  .map(({ depth, key: k, leaf }) => nestedValue(depth, k, leaf));

/** Wide values for `data`: long arrays and objects with many keys, some past the size limit. */
export const wideValue: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer({ min: 1, max: 30_000 }).map((n) => Array.from({ length: n }, (_, i) => i)),
  fc
    .integer({ min: 1, max: 3_000 })
    .map((n) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`key-${i}`, [i, { i }]]))),
);

/** A publish's `data`: mostly ordinary JSON, sometimes deep or wide. */
export const dataValue: fc.Arbitrary<unknown> = fc.oneof(
  { arbitrary: value, weight: 6 },
  { arbitrary: deepValue, weight: 1 },
  { arbitrary: wideValue, weight: 1 },
);

/** `depth` nested arrays around a 1. */
export function deepNest(depth: number): string {
  return `${'['.repeat(depth)}1${']'.repeat(depth)}`;
}

/**
 * Frame text for `$default`. Every frame stays under API Gateway's 32 KB frame limit (larger ones
 * close the socket before any route runs; routes.test.ts covers that), and is valid UTF-8 once
 * encoded (invalid UTF-8 closes with 1007; tested separately).
 */
export const frameText: fc.Arbitrary<string> = fc.oneof(
  value.map((v) => JSON.stringify(v) ?? 'undefined'),
  fc
    .record({ action: scalar, topic: scalar, since: scalar }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc
    .integer({ min: 1, max: 20_000 })
    .map((n) => JSON.stringify({ action: 'subscribe', topic: 'x'.repeat(n) })),
  fc.integer({ min: 1, max: 12_000 }).map(deepNest),
  protoKeys.map((k) => `{"${k}":{"action":"ping"},"action":"subscribe","topic":"${k}"}`),
  protoKeys.map((k) => `{"action":"resume","since":0,"${k}":{"polluted":true}}`),
);

/** A publish body as bytes: JSON of generated values, near-misses, junk, huge and invalid UTF-8. */
export const publishBody: fc.Arbitrary<Buffer> = fc.oneof(
  value.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc
    .record({ to: value, data: dataValue, id: value }, { requiredKeys: [] })
    .map((v) => Buffer.from(JSON.stringify(v))),
  fc
    .record({
      to: fc.record(
        { uid: scalar, uids: fc.array(scalar), topic: scalar, all: scalar },
        { requiredKeys: [] },
      ),
      data: dataValue,
    })
    .map((v) => Buffer.from(JSON.stringify(v))),
  // Batches of near-valid items, one of them sometimes deep or wide.
  fc
    .array(fc.record({ to: fc.record({ uid: scalar }), data: dataValue }), { minLength: 1, maxLength: 5 })
    .map((batch) => Buffer.from(JSON.stringify({ batch }))),
  fc.record({ presence: value }).map((v) => Buffer.from(JSON.stringify(v))),
  fc
    .record({ kick: fc.record({ uid: scalar, reason: scalar }, { requiredKeys: [] }) })
    .map((v) => Buffer.from(JSON.stringify(v))),
  fc.record({ status: scalar }).map((v) => Buffer.from(JSON.stringify(v))),
  frameText.map((t) => Buffer.from(t)),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes)),
  fc
    .integer({ min: 100_000, max: 200_000 })
    .map((n) => Buffer.from(JSON.stringify({ to: { uid: 'nobody-fuzz' }, data: 'x'.repeat(n) }))),
  protoKeys.map((k) =>
    Buffer.from(`{"to":{"uid":"nobody-fuzz","${k}":{"polluted":true}},"data":1,"${k}":{"polluted":true}}`),
  ),
);

/** `count` samples of an arbitrary, reproducible from `seed`. */
export function samples<T>(arbitrary: fc.Arbitrary<T>, count: number, seed: number): T[] {
  return fc.sample(arbitrary, { numRuns: count, seed });
}

function topicOfRefused(text: string): string | undefined {
  if (Buffer.byteLength(text, 'utf8') > LIMITS.maxControlFrameBytes) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const { action, topic } = parsed as Record<string, unknown>;
  if (!Object.hasOwn(parsed, 'topic') || !['subscribe', 'unsubscribe', 'resume'].includes(action as string))
    return undefined;
  return isValidTopic(topic) ? (topic as string) : undefined;
}

/** What `$default` must answer for `text`, by the pure parser: the reply frame, minus volatile fields. */
export function expectedReply(text: string): Record<string, unknown> {
  let frame: ReturnType<typeof parseClientFrame>;
  try {
    frame = parseClientFrame(text);
  } catch (error) {
    if (!(error instanceof PushError)) throw error;
    // A subscribe, unsubscribe or resume refused for another field still names its valid topic.
    const topic = topicOfRefused(text);
    return {
      type: 'error',
      code: error.code,
      message: error.message,
      ...(topic === undefined ? {} : { topic }),
    };
  }
  switch (frame.action) {
    case 'ping':
      // The fuzzed uids never receive a message: their stream's counter is 0.
      return { type: 'pong', seq: 0 };
    case 'subscribe':
      return {
        type: 'error',
        code: 'forbidden',
        message: `token does not grant topic ${frame.topic}`,
        topic: frame.topic,
      };
    case 'unsubscribe':
      return { type: 'unsubscribed', topic: frame.topic };
    case 'resume':
      return frame.topic === undefined
        ? { type: 'resumed', seq: 0 }
        : {
            type: 'error',
            code: 'forbidden',
            message: `token does not grant topic ${frame.topic}`,
            topic: frame.topic,
          };
  }
}

/**
 * What `POST /publish` must answer for a body it refuses: bytes that are not UTF-8 (README: `body
 * is not valid UTF-8`), or text the publish parser refuses, with the status and the exact error
 * body. `undefined` when the parser accepts it (the handler then answers a result, or a specific
 * refusal such as a status query for an unknown id).
 */
export function expectedPublishAnswer(bytes: Uint8Array): { status: number; body: unknown } | undefined {
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return { status: 400, body: { error: { code: 'bad_request', message: 'body is not valid UTF-8' } } };
  }
  try {
    parseCommand(text);
    return undefined;
  } catch (error) {
    if (!(error instanceof PushError)) throw error;
    const status = error.code === 'payload_too_large' ? 413 : 400;
    return { status, body: { error: { code: error.code, message: error.message } } };
  }
}
