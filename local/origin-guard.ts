/**
 * Keeps other web pages away from the local stack. Any page open in the developer's browser can
 * send requests to 127.0.0.1: a form-encoded POST or a `text/plain` fetch needs no CORS preflight,
 * so without this guard a page could publish, kick users through the SNS and Invoke endpoints, or
 * have dev tokens signed. The AWS SDK, the CLI, curl and the scripts send neither `Origin` nor
 * `Sec-Fetch-Site`, so they are never refused; browsers send at least one of them on every request
 * that matters here.
 */
import type { IncomingHttpHeaders } from 'node:http';

/** Host names a page on this machine is served from, and the stack answers to. */
const LOOPBACK_NAMES: ReadonlySet<string> = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** The origins (and `Host` values) the stack answers as its own. */
export interface OwnOrigins {
  readonly origins: ReadonlySet<string>;
  /** `Host` header values the stack accepts; `undefined` accepts any (bound beyond loopback). */
  readonly hosts: ReadonlySet<string> | undefined;
}

/**
 * The stack's own origins on `port`: `http://127.0.0.1`, `http://localhost` and `http://[::1]`,
 * plus the bound host. `Host` is checked only on a loopback bind, where it stops DNS rebinding (a
 * page on `evil.example` whose name now resolves to 127.0.0.1 sends `Host: evil.example:<port>`).
 *
 * @example
 * ownOrigins(3000, '127.0.0.1').origins.has('http://localhost:3000') // true
 */
export function ownOrigins(port: number, boundHost: string, loopback: boolean): OwnOrigins {
  const names = new Set([...LOOPBACK_NAMES, boundHost.includes(':') ? `[${boundHost}]` : boundHost]);
  const hosts = new Set([...names].map((name) => `${name}:${port}`));
  return {
    origins: new Set([...hosts].map((host) => `http://${host}`)),
    hosts: loopback ? hosts : undefined,
  };
}

/** Content types a browser may POST cross-origin without asking first (CORS "simple" requests). */
const SIMPLE_CONTENT_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * How much a request can do: `action` for every method but GET and HEAD (publish, SNS, Invoke,
 * SQS, the Management API), `secret` for what hands out credentials (`/dev/token`), `read` for
 * the rest (pages, config, status), which another origin cannot read without CORS anyway.
 */
export type RequestKind = 'action' | 'secret' | 'read';

/** The {@link RequestKind} of a request. */
export function requestKind(method: string | undefined, pathname: string): RequestKind {
  if (method !== 'GET' && method !== 'HEAD') return 'action';
  return pathname === '/dev/token' ? 'secret' : 'read';
}

/**
 * Why a request or handshake that does not name the stack in `Host` must be refused (checked on a
 * loopback bind only, where it stops DNS rebinding), or `undefined`. `scheme` is the one to name in
 * the advice.
 */
function hostRefusal(
  headers: IncomingHttpHeaders,
  own: OwnOrigins,
  scheme: 'http' | 'ws',
): string | undefined {
  const host = header(headers, 'host')?.toLowerCase();
  if (own.hosts === undefined || (host !== undefined && own.hosts.has(host))) return undefined;
  return `Host ${JSON.stringify(host ?? '')} is not this stack; use ${scheme}://127.0.0.1:<port>`;
}

/** Why a request must be refused, or `undefined` to serve it. */
export function crossSiteRefusal(
  headers: IncomingHttpHeaders,
  own: OwnOrigins,
  kind: RequestKind,
): string | undefined {
  const wrongHost = hostRefusal(headers, own, 'http');
  if (wrongHost !== undefined) return wrongHost;
  if (kind === 'read') return undefined;
  const origin = header(headers, 'origin');
  if (origin !== undefined && !own.origins.has(origin.toLowerCase())) {
    return `requests from ${origin} are refused: only pages served by this stack may call it`;
  }
  const site = header(headers, 'sec-fetch-site');
  if (site !== undefined && site !== 'same-origin' && site !== 'none') {
    return `${site} requests are refused: only pages served by this stack may call it`;
  }
  const fromBrowser = origin !== undefined || site !== undefined;
  const type = (header(headers, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (kind === 'action' && fromBrowser && (type === '' || SIMPLE_CONTENT_TYPES.includes(type))) {
    return `a browser request with Content-Type ${JSON.stringify(type)} is refused: send application/json`;
  }
  return undefined;
}

/** True for an `http(s)://` origin on this machine, any port: the developer's own app server. */
function localOrigin(origin: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  return (url.protocol === 'http:' || url.protocol === 'https:') && LOOPBACK_NAMES.has(url.hostname);
}

/**
 * Why a WebSocket handshake must be refused, or `undefined` to let API Gateway's emulation have it.
 * Checked on a loopback bind only, as `Host` is: there the stack is reachable from pages in the
 * developer's own browser and nowhere else, and a page from any site could open a socket with a
 * token it signs itself with the public dev secret, then read every push, resume any uid's log or
 * evict the developer's tabs. So `Host` must name the stack (DNS rebinding, as for requests), and a
 * browser's `Origin` must be a page on this machine (any scheme and port of `localhost`,
 * `127.0.0.1` or `[::1]`: the stack's demo page, or the app a dev server serves) or one of
 * `allowed` (`--allow-origin`; `null` is the origin of `file:` pages and sandboxed frames).
 * Clients outside a browser send no `Origin` and pass; API Gateway itself checks no origin, and a
 * stack bound beyond loopback lets anyone who reaches its port mint tokens anyway.
 *
 * @example
 * socketRefusal({ host: '127.0.0.1:3000', origin: 'http://localhost:5173' }, own, new Set()) // undefined
 */
export function socketRefusal(
  headers: IncomingHttpHeaders,
  own: OwnOrigins,
  allowed: ReadonlySet<string>,
): string | undefined {
  if (own.hosts === undefined) return undefined;
  const wrongHost = hostRefusal(headers, own, 'ws');
  if (wrongHost !== undefined) return wrongHost;
  const origin = header(headers, 'origin')?.toLowerCase();
  // The stack's own origins include its bound host (any 127.x.y.z is loopback).
  if (origin === undefined || localOrigin(origin) || own.origins.has(origin) || allowed.has(origin)) {
    return undefined;
  }
  return `WebSocket connections from pages on ${origin} are refused: only pages on this machine may connect (start with --allow-origin ${origin} to allow it)`;
}
