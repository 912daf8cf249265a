/**
 * A client whose frames all fail at their integration does not turn into as many log lines: the
 * emulator writes the first failure of a kind at once and then one line per window saying how many
 * more there were (local/log-limit.ts), so everyone else's lines stay readable.
 */
import { describe, expect, it } from 'vitest';
import type { LogFields, Logger } from '../../local/logger';
import { connect, useTestStack } from './helpers';

const warnings: { message: string; fields: LogFields }[] = [];
const logger: Logger = {
  debug() {},
  info() {},
  warn(message, fields = {}) {
    warnings.push({ message, fields });
  },
  error() {},
};

describe('integration failures in a flood', () => {
  const stack = useTestStack({ logger });

  it('are answered one by one and logged once a window, with how many more there were', async () => {
    const socket = await connect(stack, 'log-flood');
    const restore = stack.emulator.setHandler('default', async () => {
      throw new Error('planted failure');
    });
    const started = performance.now();
    try {
      const sent = 50;
      for (let i = 0; i < sent; i++) socket.ws.send('{"action":"ping"}');
      const answers: unknown[] = [];
      for (let i = 0; i < sent; i++) answers.push(await socket.nextJson());
      const failed = answers.filter(
        (answer) => (answer as { message?: unknown }).message === 'Internal server error',
      ).length;
      expect(failed).toBeGreaterThan(1);

      const lines = warnings.filter(({ message }) => message === '$default failed');
      // The first at once, with its cause; then at most one summary per window while the flood lasts.
      expect(lines[0]?.fields).toEqual({ connectionId: socket.connectionId, error: 'planted failure' });
      const windows = Math.ceil((performance.now() - started) / 5000);
      expect(lines.length).toBeLessThanOrEqual(1 + windows);
      expect(lines.length).toBeLessThan(failed);
    } finally {
      restore();
    }
  });
});
