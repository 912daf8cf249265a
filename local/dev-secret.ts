/**
 * DEV ONLY. The token signing secret the local stack, `GET /dev/token` and `npm run token` share
 * when `PUSH_TOKEN_SECRET` is not set. It is public (it is in this repository, and the server SDK
 * exports it for signing against the local stack), so a token signed with it proves nothing: never
 * configure it anywhere but on a developer's machine. In AWS the authorizer reads its key from
 * Secrets Manager (`PUSH_TOKEN_SECRET_ARN`) instead.
 */
import { DEV_TOKEN_SECRET } from '../server/src/dev-secret';

export { DEV_TOKEN_SECRET };

/** The secret to use: an explicit one, else `PUSH_TOKEN_SECRET`, else {@link DEV_TOKEN_SECRET}. */
export function resolveTokenSecret(explicit?: string, envValue?: string): string {
  if (explicit !== undefined && explicit !== '') return explicit;
  if (envValue !== undefined && envValue !== '') return envValue;
  return DEV_TOKEN_SECRET;
}
