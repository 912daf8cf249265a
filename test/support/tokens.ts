/**
 * Client tokens for tests and the soak run, signed with a running local stack's secret. Kept
 * apart from the vitest helpers so scripts that run outside vitest can sign them too.
 */
import { secretKey, signToken } from '../../lambdas/core/token';
import type { LocalStack } from '../../local/stack';

/** What a test may set on a token besides its uid and topics. */
export interface TestTokenOptions {
  /** @default 3600 */
  readonly ttlSeconds?: number;
  /** The signer's clock, for tokens issued in the past. @default Date.now() */
  readonly nowMs?: number;
  /** `aud`. @default none */
  readonly audience?: string;
}

/**
 * A client token signed with the stack's secret.
 *
 * @example
 * const token = await tokenFor(stack, 'u1', ['news'], { ttlSeconds: 60 });
 */
export function tokenFor(
  stack: Pick<LocalStack, 'tokenSecret'>,
  uid: string,
  topics: readonly string[] = [],
  options: TestTokenOptions = {},
): Promise<string> {
  return signToken({ uid, topics, ...options }, secretKey(stack.tokenSecret));
}
