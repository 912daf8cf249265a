import { describe, expect, it } from 'vitest';
import { ENV } from '../../lambdas/shared/env';
import { LIMITS } from '../../lambdas/shared/limits';
import { floodCoolOffMsFromEnv, frameRateFromEnv, uidFrameRateFromEnv } from '../../lambdas/wiring';

const { frameBurst: BURST, framesPerSecond: RATE, frameRefusalsToClose: CLOSE, maxSubscriptions: CAP } = ENV;

describe('frameRateFromEnv', () => {
  it.each([
    [
      'unset, as the defaults',
      {},
      {
        burst: LIMITS.frameBurst,
        perSecond: LIMITS.framesPerSecond,
        refusalsToClose: LIMITS.frameRefusalsToClose,
      },
    ],
    [
      'each setting',
      { [BURST]: '400', [RATE]: '3', [CLOSE]: '50' },
      { burst: 400, perSecond: 3, refusalsToClose: 50 },
    ],
    [
      'the smallest burst the subscription cap allows',
      { [CAP]: '10', [BURST]: '12' },
      { burst: 12, perSecond: LIMITS.framesPerSecond, refusalsToClose: 24 },
    ],
  ])('reads %s', (_, env, settings) => {
    expect(frameRateFromEnv(env)).toEqual(settings);
  });

  it.each([
    [{ [BURST]: '0' }, `environment variable ${BURST} must be a positive integer, got "0"`],
    [{ [RATE]: '0.5' }, `environment variable ${RATE} must be a positive integer, got "0.5"`],
    [{ [CLOSE]: 'many' }, `environment variable ${CLOSE} must be a positive integer, got "many"`],
    [
      { [BURST]: '101' },
      `environment variable ${BURST} must be at least 102 (a reconnect's subscribe for each of ${CAP}=100 topics, its resume and a ping), got "101"`,
    ],
    [
      { [CAP]: '500', [BURST]: '250' },
      `environment variable ${BURST} must be at least 502 (a reconnect's subscribe for each of ${CAP}=500 topics, its resume and a ping), got "250"`,
    ],
  ])('refuses %j at cold start, as the stack props are refused at synth', (env, message) => {
    expect(() => frameRateFromEnv(env)).toThrow(new Error(message));
  });
});

describe('uidFrameRateFromEnv', () => {
  const { uidFrameBurst: UID_BURST, uidFramesPerSecond: UID_RATE } = ENV;

  it.each([
    [
      'unset, as the defaults: every connection of the uid reconnecting at once',
      {},
      { burst: 20 * 202, perSecond: LIMITS.uidFramesPerSecond, refusalsToClose: LIMITS.frameRefusalsToClose },
    ],
    [
      'each setting',
      { [UID_BURST]: '900', [UID_RATE]: '15', [CLOSE]: '50' },
      { burst: 900, perSecond: 15, refusalsToClose: 50 },
    ],
    [
      'defaults that follow the caps in force',
      { [ENV.maxConnectionsPerUid]: '3', [CAP]: '10', [BURST]: '12' },
      { burst: 66, perSecond: LIMITS.uidFramesPerSecond, refusalsToClose: 24 },
    ],
    [
      "defaults never below the connection's own",
      { [ENV.maxConnectionsPerUid]: '1', [RATE]: '40' },
      { burst: LIMITS.frameBurst, perSecond: 40, refusalsToClose: LIMITS.frameRefusalsToClose },
    ],
  ])('reads %s', (_, env, settings) => {
    expect(uidFrameRateFromEnv(env)).toEqual(settings);
  });

  it.each([
    [{ [UID_BURST]: '0' }, `environment variable ${UID_BURST} must be a positive integer, got "0"`],
    [
      { [UID_BURST]: '249' },
      `environment variable ${UID_BURST} must be at least 250 (one connection's own allowance), got "249"`,
    ],
    [
      { [RATE]: '30', [UID_RATE]: '29' },
      `environment variable ${UID_RATE} must be at least 30 (one connection's own allowance), got "29"`,
    ],
  ])('refuses %j at cold start, as the stack props are refused at synth', (env, message) => {
    expect(() => uidFrameRateFromEnv(env)).toThrow(new Error(message));
  });
});

describe('floodCoolOffMsFromEnv', () => {
  it.each([
    ['unset, as the default', {}, LIMITS.floodCoolOffSeconds * 1000],
    ['whole seconds', { [ENV.floodCoolOffSeconds]: '5' }, 5_000],
    ['0, for no cool-off', { [ENV.floodCoolOffSeconds]: '0' }, 0],
  ])('reads %s', (_, env, ms) => {
    expect(floodCoolOffMsFromEnv(env)).toBe(ms);
  });

  it.each(['-1', '1.5', 'soon', String(LIMITS.maxFloodCoolOffSeconds + 1)])(
    'refuses %j at cold start',
    (value) => {
      expect(() => floodCoolOffMsFromEnv({ [ENV.floodCoolOffSeconds]: value })).toThrow(
        ENV.floodCoolOffSeconds,
      );
    },
  );
});
