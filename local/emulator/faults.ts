/**
 * The emulator's fault switches: the ways AWS misbehaves that the handlers must survive, made
 * reproducible. Tests flip them on `stack.emulator.faults` and put them back afterwards.
 */

/**
 * Random failures of `POST @connections/{id}` (PostToConnection), as API Gateway answers them
 * under load. One uniform draw per request picks at most one answer: `[0, throttleRate)` → 429,
 * the next `errorRate` → 500, the next `goneRate` → 410, the rest → delivered. The rates must
 * add up to at most 1.
 *
 * @example
 * stack.emulator.faults.management = { throttleRate: 0.2, goneRate: 0.05, random: seeded(42) };
 */
export interface ManagementFaults {
  /** Share of posts answered 429 `LimitExceededException` (nothing is sent). @default 0 */
  readonly throttleRate?: number;
  /** Share of posts answered 500 `InternalServerErrorException` (nothing is sent). @default 0 */
  readonly errorRate?: number;
  /**
   * Share of posts answered 410 `GoneException` although the connection is open: AWS saying gone.
   * The socket stays open and nothing is sent; what the caller does with the 410 is its business.
   * @default 0
   */
  readonly goneRate?: number;
  /** Extra milliseconds before a post is answered (on top of `managementLatencyMs`). @default 0 */
  readonly delayMs?: number;
  /** Share of posts that get `delayMs`; a second draw decides. @default 1 */
  readonly delayRate?: number;
  /** A uniform source in [0, 1), for deterministic tests. @default Math.random */
  readonly random?: () => number;
}

/** What one post gets from the switch: a delay, and maybe an error instead of a delivery. */
export interface ManagementFaultDraw {
  readonly delayMs: number;
  readonly answer?: 'throttle' | 'error' | 'gone';
}

const RATES = ['throttleRate', 'errorRate', 'goneRate', 'delayRate'] as const;

/** Throws a RangeError naming the first bad field; returns the switch unchanged otherwise. */
export function validateManagementFaults(faults: ManagementFaults): ManagementFaults {
  for (const name of RATES) {
    const rate = faults[name];
    if (rate !== undefined && !(rate >= 0 && rate <= 1)) {
      throw new RangeError(`faults.management.${name} must be within 0..1, got ${rate}`);
    }
  }
  const total = (faults.throttleRate ?? 0) + (faults.errorRate ?? 0) + (faults.goneRate ?? 0);
  // A little slack for sums like 0.1 + 0.2 + 0.7 that floating point puts just above 1.
  if (total > 1 + 1e-9) {
    throw new RangeError(`faults.management rates add up to ${total}; at most 1 is possible`);
  }
  const delay = faults.delayMs;
  if (delay !== undefined && !(Number.isFinite(delay) && delay >= 0)) {
    throw new RangeError(`faults.management.delayMs must be a non-negative number, got ${delay}`);
  }
  if (faults.random !== undefined && typeof faults.random !== 'function') {
    throw new RangeError('faults.management.random must be a function');
  }
  return faults;
}

/**
 * Draws the fate of one post. The error draw comes first and the delay draw second (only when a
 * delay is set and `delayRate` is below 1), so an injected `random` yields a known sequence.
 */
export function drawManagementFault(faults: ManagementFaults): ManagementFaultDraw {
  const random = faults.random ?? Math.random;
  const throttle = faults.throttleRate ?? 0;
  const error = throttle + (faults.errorRate ?? 0);
  const gone = error + (faults.goneRate ?? 0);
  let answer: ManagementFaultDraw['answer'];
  if (gone > 0) {
    const r = random();
    if (r < throttle) answer = 'throttle';
    else if (r < error) answer = 'error';
    else if (r < gone) answer = 'gone';
  }
  const delayMs = faults.delayMs ?? 0;
  const delayRate = faults.delayRate ?? 1;
  const delayed = delayMs > 0 && (delayRate >= 1 || random() < delayRate);
  const draw = { delayMs: delayed ? delayMs : 0 };
  return answer === undefined ? draw : { ...draw, answer };
}

/**
 * Every switch of the emulator. Plain fields, except `management`, which is checked when set so a
 * typo fails at the assignment instead of silently doing nothing.
 */
export class EmulatorFaults {
  /**
   * Skip `$disconnect` after closes, as when API Gateway loses one (it is best effort). Records
   * then stay behind until a publish meets the 410 or the TTL expires them. @default false
   */
  dropDisconnects = false;
  /**
   * `@connections` requests per second above which the Management API answers 429
   * `LimitExceededException`: a token bucket refilled at this rate (AWS's account throttle is
   * 10,000/s, shared by every API of the account). @default undefined (never throttles)
   */
  managementRateLimit: number | undefined = undefined;
  /**
   * Capacity of that bucket: requests allowed at once after a quiet spell (AWS's account burst is
   * 5,000). At least 1. @default one second's worth, `managementRateLimit`
   */
  managementBurst: number | undefined = undefined;
  #management: ManagementFaults | undefined;

  /** Random 429/500/410 answers and delays on PostToConnection. @default undefined (none) */
  get management(): ManagementFaults | undefined {
    return this.#management;
  }

  set management(value: ManagementFaults | undefined) {
    this.#management = value === undefined ? undefined : validateManagementFaults(value);
  }
}
