/**
 * Route selection with `$request.body.action`, as API Gateway does it: a JSON object whose
 * `action` names a configured route goes there; everything else (other actions, no action, not
 * JSON) goes to `$default`. This API configures only `$connect`, `$disconnect` and `$default`, so
 * in practice every frame lands on `$default` with `routeKey` `"$default"`.
 */
import { ROUTE_SELECTION_EXPRESSION, ROUTES } from '../../lambdas/shared/protocol';

const BODY_PREFIX = '$request.body.';

/** The route key a text frame selects, or `undefined` when nothing (not even `$default`) matches. */
export function selectRoute(
  body: string,
  routeKeys: ReadonlySet<string>,
  expression: string = ROUTE_SELECTION_EXPRESSION,
): string | undefined {
  const fallback = routeKeys.has(ROUTES.default) ? ROUTES.default : undefined;
  if (!expression.startsWith(BODY_PREFIX)) return fallback;
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return fallback;
  }
  let value: unknown = parsed;
  for (const field of expression.slice(BODY_PREFIX.length).split('.')) {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return fallback;
    value = (value as Record<string, unknown>)[field];
  }
  // Reserved keys ($connect, $disconnect) can never be selected by a message.
  if (typeof value === 'string' && !value.startsWith('$') && routeKeys.has(value)) return value;
  return fallback;
}
