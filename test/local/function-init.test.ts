/**
 * A function's Init phase in the local Lambda service: an invocation that finds its function not
 * yet imported waits for the import after taking its slot and before its timeout starts, as
 * Lambda does not count Init in the invocation's timeout; a failed Init fails the invocation and
 * frees the slot.
 */
import { describe, expect, it } from 'vitest';
import { HANDLER_NAMES, type HostedHandlerId } from '../../lambdas/shared/deployment';
import { type FunctionSettings, LocalFunctions } from '../../local/functions';
import type { HandlerSet } from '../../local/lambda-types';
import { silentLogger } from '../../local/logger';

const TIMEOUT_MS = 50;

const settings = Object.fromEntries(
  HANDLER_NAMES.map((name) => [
    name,
    {
      functionName: name,
      arn: `arn:aws:lambda:us-east-1:000000000000:function:${name}`,
      timeoutMs: TIMEOUT_MS,
      memorySizeMb: 128,
      reservedConcurrency: 1,
    },
  ]),
) as Record<HostedHandlerId, FunctionSettings>;

const handlers = Object.fromEntries(
  HANDLER_NAMES.map((name) => [name, async () => `${name} ran`]),
) as unknown as HandlerSet;

describe('a function not yet initialized', () => {
  it('is invoked once its Init ends, with its whole timeout still ahead, however long Init took', async () => {
    let initialized = false;
    let initialize!: () => void;
    const init = new Promise<void>((resolve) => {
      initialize = () => {
        initialized = true;
        resolve();
      };
    });
    const functions = new LocalFunctions(
      { ...handlers, publish: async () => ({ initialized }) },
      {
        settings,
        logger: silentLogger,
        initialized: () => init,
      },
    );

    const result = functions.invoke('publish', {});
    // Init outlasts the function's timeout several times over.
    setTimeout(initialize, TIMEOUT_MS * 4);

    expect(await result).toEqual({ initialized: true });
    expect(functions.functionStats('publish')).toMatchObject({ timeouts: 0, inFlight: 0 });
  });

  it('fails the invocation with the Init error and frees its slot', async () => {
    let failing = true;
    const functions = new LocalFunctions(handlers, {
      settings,
      logger: silentLogger,
      initialized: async () => {
        if (failing) throw Object.assign(new Error('PUSH_CONNECTIONS_TABLE is not set'), { code: 'config' });
      },
    });

    await expect(functions.invoke('connect', {})).rejects.toMatchObject({
      message: 'PUSH_CONNECTIONS_TABLE is not set',
    });
    expect(functions.functionStats('connect').inFlight).toBe(0);
    failing = false;
    // Reserved concurrency 1: the failed Init gave its slot back.
    expect(await functions.invoke('connect', {})).toBe('connect ran');
  });
});
