import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCommand } from '../../lambdas/core/command';
import { parseClientFrame } from '../../lambdas/core/frames';
import { isValidTopic } from '../../lambdas/core/topics';
import { PushError } from '../../lambdas/shared/errors';
import { dataValue, deepNest, protoKeys, scalar, value } from '../hardening/arbitraries';

/**
 * Generated input for the two parsers that see untrusted bytes: client frames ($default) and
 * publish bodies. Every input must come back as a valid value or a PushError with a specific
 * code; nothing else may escape. `npm test` runs 10k frames and 10k bodies (some with `data` nested
 * up to a thousand deep or thousands wide); `FUZZ_RUNS=100000 npx vitest run test/unit/fuzz.test.ts` runs
 * a deeper pass. The value
 * generators are the end-to-end fuzz's (test/hardening/arbitraries.ts); the frame mix here adds
 * what only an in-process call can receive (raw bytes decoded as text, frames over 32 KB).
 */

/** Raw frame text: JSON of random values, near-miss frames, junk, lone surrogates, huge and deep. */
const frameText = fc.oneof(
  value.map((v) => JSON.stringify(v) ?? 'undefined'),
  fc
    .record({ action: scalar, topic: scalar, since: scalar }, { requiredKeys: [] })
    .map((v) => JSON.stringify(v)),
  fc.string({ maxLength: 200 }),
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('utf8')),
  fc
    .integer({ min: 1, max: 20_000 })
    .map((n) => JSON.stringify({ action: 'subscribe', topic: 'x'.repeat(n) })),
  fc.integer({ min: 1, max: 5_000 }).map(deepNest),
  protoKeys.map((k) => `{"${k}":{"action":"ping"},"action":"subscribe","topic":"${k}"}`),
);

function outcome(run: () => unknown): { ok: unknown } | { code: string } {
  try {
    return { ok: run() };
  } catch (error) {
    if (error instanceof PushError) return { code: error.code };
    throw error;
  }
}

const RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);

// The generators are CPU-heavy (deep and wide values): leave room for a loaded 2-core machine.
describe('fuzzing', { timeout: 180_000 }, () => {
  it(`answers ${RUNS} generated client frames with a valid action or a specific error code`, () => {
    fc.assert(
      fc.property(frameText, (text) => {
        const result = outcome(() => parseClientFrame(text));
        if ('code' in result) {
          expect(['bad_request', 'payload_too_large']).toContain(result.code);
          return;
        }
        const action = result.ok as { action: string; topic?: string; since?: number };
        expect(['ping', 'subscribe', 'unsubscribe', 'resume']).toContain(action.action);
        if (action.topic !== undefined) expect(isValidTopic(action.topic)).toBe(true);
        if (action.since !== undefined)
          expect(Number.isSafeInteger(action.since) && action.since >= 0).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it(`answers ${RUNS} generated publish bodies, with deep and wide data in single publishes and batch items, with a command or a specific error code`, () => {
    const body = fc.oneof(
      value,
      fc.record({ to: value, data: dataValue, id: value }, { requiredKeys: [] }),
      fc.record({
        to: fc.record(
          { uid: scalar, uids: fc.array(scalar), topic: scalar, all: scalar },
          { requiredKeys: [] },
        ),
        data: dataValue,
      }),
      fc.record({ presence: value }),
      fc.record({ kick: fc.record({ uid: scalar, reason: scalar }, { requiredKeys: [] }) }),
      fc.record({ status: scalar }),
      // Batches: mostly near-valid items (so some parse), sometimes junk, sometimes too many.
      fc.record({
        batch: fc.oneof(
          value,
          fc.array(
            fc.oneof(
              fc.record(
                { to: fc.record({ uid: scalar }), data: dataValue, id: scalar },
                { requiredKeys: ['to', 'data'] },
              ),
              value,
            ),
            { maxLength: 12 },
          ),
          // A full batch whose last item may be deep or wide: the error names its index.
          fc
            .tuple(fc.integer({ min: 1, max: 110 }), dataValue)
            .map(([n, data]) =>
              Array.from({ length: n }, (_, i) => ({ to: { uid: `u${i}` }, data: i === n - 1 ? data : i })),
            ),
        ),
      }),
      frameText,
    );
    fc.assert(
      fc.property(body, (input) => {
        const before = JSON.stringify(input);
        const result = outcome(() => parseCommand(input, (index) => `generated-${index ?? 'single'}`));
        if ('code' in result) {
          expect(['bad_request', 'payload_too_large']).toContain(result.code);
        } else {
          expect(['publish', 'batch', 'presence', 'kick', 'status']).toContain(
            (result.ok as { kind: string }).kind,
          );
        }
        // Parsing never mutates the caller's input, and no prototype was polluted.
        expect(JSON.stringify(input)).toBe(before);
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      }),
      { numRuns: RUNS },
    );
  });
});
