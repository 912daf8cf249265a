import { UnauthorizedError } from '../shared/errors';
import type { AuthorizerContext, AuthorizerResult } from '../shared/events';
import { isValidUid } from './publish-request';
import type { TokenClaims } from './token';
import { parseGrants } from './topics';

/** What the routes after `$connect` know about the connection's owner. */
export interface Principal {
  readonly uid: string;
  readonly grants: readonly string[];
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
    context: { uid: claims.uid, grants: JSON.stringify(claims.topics), exp: claims.exp },
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
  return { uid: context.uid, grants: parsed };
}
