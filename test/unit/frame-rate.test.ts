import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  FrameRate,
  type FrameVerdict,
  frameRateMessage,
  uidFrameRateMessage,
} from '../../lambdas/core/frame-rate';
import { ENV } from '../../lambdas/shared/env';
import {
  frameBurstFor,
  frameRefusalsToCloseFor,
  LIMITS,
  minFrameBurstFor,
  uidFrameBurstFor,
} from '../../lambdas/shared/limits';

/** Frames of one connection: the ms each is seen at. */
type Frames = readonly number[];

/** The verdicts, in order, for frames of connection `c` seen at `times`. */
function verdicts(limiter: FrameRate, times: Frames, connectionId = 'c'): string[] {
  return times.map((at) => describeVerdict(limiter.check(connectionId, at)));
}

function describeVerdict(v: FrameVerdict): string {
  return v.verdict === 'allowed' ? 'allowed' : `${v.verdict} ${v.refusals}`;
}

const small = { burst: 3, perSecond: 1, refusalsToClose: 4 };

describe('a connection frame bucket', () => {
  it.each<[string, Frames, string[]]>([
    ['allows a whole burst at once', [0, 0, 0], ['allowed', 'allowed', 'allowed']],
    [
      'refuses past the burst, and closes at the refusals to close',
      [0, 0, 0, 0, 0, 0, 0],
      ['allowed', 'allowed', 'allowed', 'refused 1', 'refused 2', 'refused 3', 'close 4'],
    ],
    [
      'closes again at every further multiple of the refusals to close',
      [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
      ['allowed', 'allowed', 'allowed', 'refused 1', 'refused 2', 'refused 3', 'close 4'].concat([
        'refused 5',
        'refused 6',
        'refused 7',
        'close 8',
      ]),
    ],
    [
      'refills at the rate: one frame per second after the burst',
      [0, 0, 0, 0, 999, 1000, 1000],
      ['allowed', 'allowed', 'allowed', 'refused 1', 'refused 2', 'allowed', 'refused 3'],
    ],
    [
      // Allowed frames in between do not forgive: a flood faster than the refill still closes.
      'keeps counting refusals while frames keep the bucket from filling',
      [0, 0, 0, 0, 0, 1000, 1000, 2000, 2000],
      [
        'allowed',
        'allowed',
        'allowed',
        'refused 1',
        'refused 2',
        'allowed',
        'refused 3',
        'allowed',
        'close 4',
      ],
    ],
    [
      'forgives the refusals once the bucket is full again',
      [0, 0, 0, 0, 0, 0, 3000, 3000, 3000, 3000, 3000],
      ['allowed', 'allowed', 'allowed', 'refused 1', 'refused 2', 'refused 3'].concat([
        'allowed',
        'allowed',
        'allowed',
        'refused 1',
        'refused 2',
      ]),
    ],
    [
      'never holds more than the burst, however long the connection was quiet',
      [0, 60_000, 60_000, 60_000, 60_000],
      ['allowed', 'allowed', 'allowed', 'allowed', 'refused 1'],
    ],
    [
      'refills nothing when the clock steps back',
      [10_000, 10_000, 10_000, 5_000, 10_999],
      ['allowed', 'allowed', 'allowed', 'refused 1', 'refused 2'],
    ],
  ])('%s', (_, times, expected) => {
    expect(verdicts(new FrameRate(small), times)).toEqual(expected);
  });

  it('keeps one bucket per connection: a flooding neighbour takes nothing from another', () => {
    const limiter = new FrameRate(small);
    expect(verdicts(limiter, [0, 0, 0, 0, 0, 0, 0], 'flooder').at(-1)).toBe('close 4');
    expect(verdicts(limiter, [0, 0, 0], 'neighbour')).toEqual(['allowed', 'allowed', 'allowed']);
  });

  it('refuses without closing while a close of the key is under way, and starts it whole once forgotten', () => {
    const limiter = new FrameRate(small);
    expect(verdicts(limiter, [0, 0, 0, 0, 0, 0, 0], 'uid').at(-1)).toBe('close 4');
    limiter.closing('uid');
    // Refusal 8 would close again: with the close under way it is a refusal; another key is not held.
    expect(verdicts(limiter, [0, 0, 0, 0], 'uid')).toEqual([
      'refused 5',
      'refused 6',
      'refused 7',
      'refused 8',
    ]);
    expect(verdicts(limiter, [0, 0, 0, 0, 0, 0, 0], 'other').at(-1)).toBe('close 4');
    limiter.forget('uid');
    expect(verdicts(limiter, [0, 0, 0, 0, 0, 0, 0], 'uid')).toEqual([
      'allowed',
      'allowed',
      'allowed',
      'refused 1',
      'refused 2',
      'refused 3',
      'close 4',
    ]);
  });

  it.each<[string, number, readonly string[], readonly string[]]>([
    ['tracks up to the cap', 3, ['a', 'b', 'c'], ['a', 'b', 'c']],
    ['forgets the least recently seen past the cap', 2, ['a', 'b', 'c'], ['b', 'c']],
    // `a` seen again is the most recent, so `b` goes.
    ['counts a connection seen again as recent', 2, ['a', 'b', 'a', 'c'], ['a', 'c']],
  ])('%s', (_, maxTracked, seen, kept) => {
    const replay = () => {
      const limiter = new FrameRate({ ...small, maxTracked });
      for (const id of seen) limiter.check(id, 0);
      return limiter;
    };
    expect(replay().size).toBe(kept.length);
    // Probed on a limiter of its own each, as a probe is a frame too: a kept connection has spent
    // a token per frame seen; a forgotten one starts again with a full bucket.
    for (const id of ['a', 'b', 'c']) {
      const left = verdicts(replay(), [0, 0, 0], id).filter((v) => v === 'allowed').length;
      const spent = seen.filter((s) => s === id).length;
      expect(left, id).toBe(kept.includes(id) ? 3 - spent : 3);
    }
  });

  it('never tracks more than the cap, however many connections it sees', () => {
    const limiter = new FrameRate({ ...small, maxTracked: 100 });
    for (let i = 0; i < 10_000; i++) limiter.check(`c${i}`, i);
    expect(limiter.size).toBe(100);
  });

  it.each([
    ['burst', { ...small, burst: 0 }],
    ['perSecond', { ...small, perSecond: -1 }],
    ['refusalsToClose', { ...small, refusalsToClose: Number.NaN }],
    ['maxTracked', { ...small, maxTracked: 0 }],
  ])('refuses a %s that is not positive', (name, settings) => {
    expect(() => new FrameRate(settings)).toThrow(`${name} must be positive`);
  });

  it('takes a maxTracked left undefined as the default', () => {
    expect(new FrameRate({ ...small, maxTracked: undefined }).size).toBe(0);
  });

  it('tells a refused frame its connection allowance', () => {
    expect(frameRateMessage({ burst: 250, perSecond: 10 })).toBe(
      'too many frames from this connection (250 at once, then 10 per second); frames refused: slow down, or the connection is closed',
    );
  });
});

describe('the default frame allowance', () => {
  it('holds a reconnect with every topic twice over, the resumes the resume budget lets run and a ping', () => {
    // What the client library sends on a new socket, at most (see LIMITS.frameBurst): every
    // subscribe, each perhaps sent again after API Gateway answered a frame itself, the uid's
    // resume, the topic resumes and a ping.
    const handshake = 2 * LIMITS.maxSubscriptions + 1;
    const afterwards = LIMITS.resumesPerWindow + 1;
    expect(LIMITS.frameBurst).toBeGreaterThanOrEqual(handshake + afterwards);
    expect(frameBurstFor(LIMITS.maxSubscriptions, LIMITS.resumesPerWindow)).toBe(LIMITS.frameBurst);
    expect(minFrameBurstFor(LIMITS.maxSubscriptions)).toBe(LIMITS.maxSubscriptions + 2);
  });

  it('refills faster than the resume budget lets a connection resume', () => {
    expect(LIMITS.framesPerSecond).toBeGreaterThan(LIMITS.resumesPerWindow / LIMITS.resumeWindowSeconds);
  });

  it('closes only past twice the burst, more than a refused handshake and its resends add up', () => {
    expect(LIMITS.frameRefusalsToClose).toBe(2 * LIMITS.frameBurst);
    expect(frameRefusalsToCloseFor(LIMITS.frameBurst)).toBe(LIMITS.frameRefusalsToClose);
    expect(frameRefusalsToCloseFor(104)).toBe(208);
  });

  it('lets a reconnect with every topic through a default bucket, twice in a row', () => {
    const limiter = new FrameRate({
      burst: LIMITS.frameBurst,
      perSecond: LIMITS.framesPerSecond,
      refusalsToClose: LIMITS.frameRefusalsToClose,
    });
    const handshake = Array.from(
      { length: LIMITS.maxSubscriptions + 1 + LIMITS.resumesPerWindow + 1 },
      () => 0,
    );
    expect(verdicts(limiter, handshake).every((v) => v === 'allowed')).toBe(true);
  });
});

describe("the default allowance of a uid's connections", () => {
  it('holds every connection the uid may hold reconnecting with every topic at once', () => {
    const burst = uidFrameBurstFor(LIMITS.maxConnectionsPerUid, LIMITS.maxSubscriptions, LIMITS.frameBurst);
    // Each a whole handshake with history: the uid's resume, a subscribe and a resume per topic, a ping.
    expect(burst).toBe(LIMITS.maxConnectionsPerUid * (2 * LIMITS.maxSubscriptions + 2));
    const limiter = new FrameRate({
      burst,
      perSecond: LIMITS.uidFramesPerSecond,
      refusalsToClose: LIMITS.frameRefusalsToClose,
    });
    const reconnects = Array.from({ length: burst }, () => 0);
    expect(verdicts(limiter, reconnects).every((v) => v === 'allowed')).toBe(true);
  });

  it("is never below one connection's own, and keeps up twice a connection's rate", () => {
    expect(uidFrameBurstFor(1, LIMITS.maxSubscriptions, LIMITS.frameBurst)).toBe(LIMITS.frameBurst);
    expect(LIMITS.uidFramesPerSecond).toBe(2 * LIMITS.framesPerSecond);
  });

  it("tells a refused frame its uid's allowance", () => {
    expect(uidFrameRateMessage({ burst: 4040, perSecond: 20 })).toBe(
      "too many frames from this uid's connections together (4040 at once, then 20 per second); frames refused: slow down, or the uid's connections are closed",
    );
  });
});

describe("the README's word on the frame allowance", () => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const defaults = { burst: LIMITS.frameBurst, perSecond: LIMITS.framesPerSecond };

  it('quotes the message a refused frame gets at the defaults', () => {
    expect(readme).toContain(`\`${frameRateMessage(defaults)}\``);
    expect(readme).toContain(
      `{"type":"error","code":"rate_limited","message":"${frameRateMessage(defaults)}"}`,
    );
  });

  it('states the defaults and names each setting', () => {
    const row = readme.split('\n').find((line) => line.startsWith('| frames per connection |')) ?? '';
    expect(row).toContain(`${LIMITS.frameBurst} at once, then ${LIMITS.framesPerSecond} per second`);
    expect(row).toContain(`\`frameBurst\` (\`${ENV.frameBurst}\`)`);
    expect(row).toContain(`\`framesPerSecond\` (\`${ENV.framesPerSecond}\`)`);
    const close =
      readme
        .split('\n')
        .find((line) => line.startsWith('| refused frames before the connection is closed |')) ?? '';
    expect(close).toContain(`${LIMITS.frameRefusalsToClose} refused`);
    expect(close).toContain(`\`frameRefusalsToClose\` (\`${ENV.frameRefusalsToClose}\`)`);
  });

  it("quotes the message and states the defaults of a uid's shared allowance", () => {
    const uid = {
      burst: uidFrameBurstFor(LIMITS.maxConnectionsPerUid, LIMITS.maxSubscriptions, LIMITS.frameBurst),
      perSecond: LIMITS.uidFramesPerSecond,
    };
    expect(readme).toContain(
      `{"type":"error","code":"rate_limited","message":"${uidFrameRateMessage(uid)}"}`,
    );
    expect(readme).toContain(`\`${uidFrameRateMessage(uid)}\``);
    const row =
      readme
        .split('\n')
        .find((line) => line.startsWith('| frames per uid, all its connections together |')) ?? '';
    expect(row).toContain(`${uid.burst.toLocaleString('en-US')} at once, then ${uid.perSecond} per second`);
    expect(row).toContain(`\`uidFrameBurst\` (\`${ENV.uidFrameBurst}\`)`);
    expect(row).toContain(`\`uidFramesPerSecond\` (\`${ENV.uidFramesPerSecond}\`)`);
  });
});
