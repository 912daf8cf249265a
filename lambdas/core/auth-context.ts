import { UnauthorizedError } from '../shared/errors';
import type { AuthorizerContext, AuthorizerResult } from '../shared/events';
import type { TokenClaims } from './token';
import { parseGrants } from './topics';
import { isValidUid } from './uid';

/** What the routes after `$connect` know about the connection's owner. */
export interface Principal {
  readonly uid: string;
  readonly grants: readonly string[];
  /** The token's `exp`, epoch seconds; absent only for a context made before it was passed on. */
  readonly tokenExp?: number;
  /** The token's `iat`, epoch seconds; absent when the token has none. */
  readonly tokenIat?: number;
}

/**
 * The authorizer's Allow result. API Gateway only passes string, number and boolean context
 * values on, so the grants travel as a JSON string.
 */
export function allowResult(claims: TokenClaims, methodArn: string): AuthorizerResult {
  return {
    principalId: claims.uid,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: methodArn }],
    },
    // `iat` goes on so `$connect` can check the uid's revocation again once its record is stored.
    context: {
      uid: claims.uid,
      grants: JSON.stringify(claims.topics),
      exp: claims.exp,
      ...(claims.iat === undefined ? {} : { iat: claims.iat }),
    },
  };
}

/** Reads the principal back from `requestContext.authorizer`; throws when it is absent or altered. */
export function principalFrom(context: AuthorizerContext | undefined): Principal {
  if (context === undefined || !isValidUid(context.uid)) {
    throw new UnauthorizedError('no authorizer context on this connection');
  }
  let grants: unknown = [];
  if (typeof context.grants === 'string') {
    try {
      grants = JSON.parse(context.grants);
    } catch {
      grants = undefined;
    }
  }
  const parsed = parseGrants(grants);
  if (parsed === undefined) throw new UnauthorizedError('authorizer context carries invalid grants');
  const exp = tokenExpFrom(context);
  const iat = secondsFrom(context, 'iat');
  return {
    uid: context.uid,
    grants: parsed,
    ...(exp === undefined ? {} : { tokenExp: exp }),
    ...(iat === undefined ? {} : { tokenIat: iat }),
  };
}

/** The token `exp` the authorizer passed on, epoch seconds. */
export function tokenExpFrom(context: AuthorizerContext | undefined): number | undefined {
  return secondsFrom(context, 'exp');
}

/**
 * A time in seconds the authorizer passed on. API Gateway hands every context number to the
 * routes as a string (`1700000000` → `"1700000000"`), so both forms are read.
 */
function secondsFrom(context: AuthorizerContext | undefined, key: 'exp' | 'iat'): number | undefined {
  const raw = context?.[key];
  const value = typeof raw === 'string' && /^\d{1,15}$/.test(raw) ? Number(raw) : raw;
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : undefined;
}
