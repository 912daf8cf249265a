/**
 * True when a revocation refuses the token: it was issued at or before `revokedBefore` (epoch
 * seconds), or it carries no `iat` to tell. Tokens have one-second resolution, so a token issued
 * in the revocation's own second is refused too: sign the new one a second later.
 */
export function isRevoked(claims: { readonly iat?: number }, revokedBefore: number | undefined): boolean {
  if (revokedBefore === undefined) return false;
  return claims.iat === undefined || claims.iat <= revokedBefore;
}
