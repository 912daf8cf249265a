/**
 * SigV4 header signing for the hot path's requests (signed-http.ts): the same signature, and the
 * same signed headers in the same order, as the SDK's `SignatureV4.sign` (`@smithy/signature-v4`)
 * gives a request with no query, computed in one synchronous pass once the credentials are in
 * hand. The SDK's signer made every request pay for about a dozen promises, a clone of the request,
 * regular expressions over every header and an HMAC of the secret only to look its signing key up
 * in a cache: together about a sixth of the publish handler's CPU per uid push and nearly a third
 * of what it allocated (bench row p, V8 CPU and sampling heap profiles of the handler's process).
 * The signing key is kept for the last credentials and day it was made for.
 *
 * `test/unit/sigv4.test.ts` checks it against `SignatureV4` over many requests, credentials and
 * dates.
 */
import * as crypto from 'node:crypto';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

const ALGORITHM = 'AWS4-HMAC-SHA256';
const SHA256_HEADER = 'x-amz-content-sha256';
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** Headers the SDK's signer never signs (its `ALWAYS_UNSIGNABLE_HEADERS`). */
const UNSIGNABLE = new Set([
  'authorization',
  'cache-control',
  'connection',
  'expect',
  'from',
  'keep-alive',
  'max-forwards',
  'pragma',
  'referer',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'x-amzn-trace-id',
]);

/** Headers the SDK's signer drops from the request before signing (its `GENERATED_HEADERS`). */
const GENERATED = new Set(['authorization', 'x-amz-date', 'date']);

/** A request to sign: already URI-encoded `path`, no query. */
export interface SignableRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
}

/** Options for {@link RequestSigner}. */
export interface RequestSignerOptions {
  /** The signing name: `dynamodb`, `execute-api`. */
  readonly service: string;
  readonly region: string;
  /** Asked at each signing, as the SDK's signer asks it, so rotated credentials are picked up. */
  readonly credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
}

/**
 * SHA-256 of `data` in hex: Node's one-shot `crypto.hash` (Node 20.12 and later), which makes no
 * Hash object, else `createHash`.
 */
const sha256Hex: (data: string | Uint8Array) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

/** The SDK's URI escape: encodeURIComponent, and `!'()*` too. */
function escapeUri(value: string): string {
  return encodeURIComponent(value).replace(
    /[!'()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
}

/** The SDK's canonical path: dot segments resolved, empty ones dropped, then escaped again. */
export function canonicalPath(path: string): string {
  if (path === '/') return path;
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment.length === 0 || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const normalized = `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${segments.length > 0 && path.endsWith('/') ? '/' : ''}`;
  return escapeUri(normalized).replace(/%2F/g, '/');
}

/** A header value as the SDK's signer canonicalizes it: line breaks and runs of blanks as one space, trimmed once. */
function canonicalValue(value: string): string {
  if (!/[\r\n\t ]/.test(value)) return value;
  return value
    .replace(/[\r\n]/g, ' ')
    .replace(/[ \t]+/g, ' ')
    .replace(/^ | $/g, '');
}

/** `YYYYMMDDTHHMMSSZ` of `now`, as the SDK's signer formats its signing date. */
export function longDateOf(now: Date): string {
  const iso = now.toISOString();
  if (iso.length !== 24) return iso.replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '');
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
}

/**
 * Signs requests for one service and region.
 *
 * @example
 * const signer = new RequestSigner({ service: 'dynamodb', region: 'eu-west-1', credentials });
 * const headers = await signer.sign({ method: 'POST', path: '/', headers: { host, 'content-length': '2' }, body: '{}' });
 */
export class RequestSigner {
  readonly #service: string;
  readonly #region: string;
  readonly #credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** The last signing key made, and what it was made for. */
  #key: { secret: string; token: string | undefined; shortDate: string; key: Buffer } | undefined;

  constructor(options: RequestSignerOptions) {
    this.#service = options.service;
    this.#region = options.region;
    this.#credentials = options.credentials;
  }

  /**
   * The request's headers with `x-amz-date`, `x-amz-security-token` (temporary credentials),
   * `x-amz-content-sha256` and `authorization` added, as a new object; the request is not changed.
   */
  async sign(request: SignableRequest, now: Date = new Date()): Promise<Record<string, string>> {
    const given = this.#credentials;
    const credentials = typeof given === 'function' ? await given() : given;
    if (
      typeof credentials !== 'object' ||
      typeof credentials.accessKeyId !== 'string' ||
      typeof credentials.secretAccessKey !== 'string'
    ) {
      throw new Error('Resolved credential object is not valid');
    }
    return this.#signWith(credentials, request, now);
  }

  /** {@link sign} with the credentials in hand: synchronous. */
  #signWith(credentials: AwsCredentialIdentity, request: SignableRequest, now: Date): Record<string, string> {
    const headers: Record<string, string> = {};
    let payloadHash: string | undefined;
    for (const name in request.headers) {
      if (!Object.hasOwn(request.headers, name)) continue;
      const lower = name.toLowerCase();
      if (GENERATED.has(lower)) continue;
      const value = request.headers[name] as string;
      headers[name] = value;
      if (lower === SHA256_HEADER && payloadHash === undefined) payloadHash = value;
    }
    const longDate = longDateOf(now);
    const shortDate = longDate.slice(0, 8);
    const scope = `${shortDate}/${this.#region}/${this.#service}/aws4_request`;
    headers['x-amz-date'] = longDate;
    const token = credentials.sessionToken;
    if (token) headers['x-amz-security-token'] = token;
    if (payloadHash === undefined) {
      const { body } = request;
      payloadHash = body === undefined || body === null ? EMPTY_SHA256 : sha256Hex(body);
      headers[SHA256_HEADER] = payloadHash;
    }

    // The SDK's canonical headers: names in sorted order lower-cased (a later one of the same
    // lower-cased name wins), the unsignable ones left out, then sorted again by lower-cased name.
    const canonical: Record<string, string> = {};
    for (const name of Object.keys(headers).sort()) {
      const value = headers[name];
      if (value === undefined || value === null) continue;
      const lower = name.toLowerCase();
      if (UNSIGNABLE.has(lower) || lower.startsWith('proxy-') || lower.startsWith('sec-')) continue;
      canonical[lower] = canonicalValue(value);
    }
    const names = Object.keys(canonical).sort();
    let lines = '';
    for (const name of names) lines += `${name}:${canonical[name]}\n`;
    const signedHeaders = names.join(';');
    const canonicalRequest = `${request.method}\n${canonicalPath(request.path)}\n\n${lines}\n${signedHeaders}\n${payloadHash}`;
    const stringToSign = `${ALGORITHM}\n${longDate}\n${scope}\n${sha256Hex(canonicalRequest)}`;
    const signature = crypto
      .createHmac('sha256', this.#signingKey(credentials, shortDate))
      .update(stringToSign)
      .digest('hex');
    headers.authorization = `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return headers;
  }

  #signingKey(credentials: AwsCredentialIdentity, shortDate: string): Buffer {
    const kept = this.#key;
    const secret = credentials.secretAccessKey;
    const token = credentials.sessionToken;
    if (
      kept !== undefined &&
      kept.secret === secret &&
      kept.token === token &&
      kept.shortDate === shortDate
    ) {
      return kept.key;
    }
    let key = crypto.createHmac('sha256', `AWS4${secret}`).update(shortDate).digest();
    for (const part of [this.#region, this.#service, 'aws4_request']) {
      key = crypto.createHmac('sha256', key).update(part).digest();
    }
    this.#key = { secret, token, shortDate, key };
    return key;
  }
}
