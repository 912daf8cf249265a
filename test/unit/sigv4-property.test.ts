/**
 * Randomized differential test of the hot-path SigV4 signer (lambdas/adapters/sigv4.ts) against
 * the SDK's `SignatureV4` (@smithy/signature-v4), plus a wire check of signed-http.ts: what goes
 * on the wire is exactly the signed header set and the signature verifies over the received bytes.
 *
 * Seeded (SIGV4_SEED, SIGV4_RUNS); a failure prints the seed, the run index and the exact input.
 * Place at test/unit/sigv4-property.test.ts (imports are relative to that folder). To run it with
 * only the sigv4 suite: append `import './sigv4-property.test';` to test/unit/sigv4.test.ts, or run
 * `npx vitest run test/unit/sigv4-property.test.ts --maxWorkers=1`.
 */
import { createHash, createHmac } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Sha256 as SdkSha256 } from '@smithy/core/checksum';
import type { AwsCredentialIdentity } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { SignedHttp } from '../../lambdas/adapters/signed-http';
import { RequestSigner } from '../../lambdas/adapters/sigv4';
import { Sha256, sdkSigned } from '../support/sdk-signer';

const SEED = Number(process.env.SIGV4_SEED ?? 20260301);
const RUNS = Number(process.env.SIGV4_RUNS ?? 4000);

function rng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T;
  return { next, int, pick, bool: (p = 0.5) => next() < p };
}
type Rng = ReturnType<typeof rng>;

const ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_-';
const HOSTILE = [
  '.',
  '..',
  '%',
  '%2F',
  '%2f',
  '%3D',
  '%25',
  '@',
  '!',
  "'",
  '(',
  ')',
  '*',
  '~',
  ' ',
  '?',
  '#',
  '&',
  ';',
  ':',
  ',',
  '$',
  '[',
  ']',
  '\\',
  '"',
  '<',
  '>',
  '^',
  '`',
  '{',
  '}',
  '|',
  'é',
  'ü',
  '☃',
  '𝄞',
  '\u00a0',
  '\u0000',
  '\t',
  '\u2028',
  '\ufeff',
  '\u00ff',
  '\u0100',
];

function segment(r: Rng): string {
  if (r.bool(0.08)) return r.pick(['', '.', '..', '@connections', 'prod', '%2F']);
  let s = '';
  const n = 1 + r.int(24);
  for (let i = 0; i < n; i++) s += r.bool(0.8) ? ID_CHARS[r.int(ID_CHARS.length)] : r.pick(HOSTILE);
  return s;
}

/** A path as a caller of signed-http gives it: base path + '/...' (always starting with '/'). */
function path(r: Rng): string {
  switch (r.int(5)) {
    case 0:
      return '/';
    case 1: {
      // what management-http.ts builds: stage + /@connections/ + the SDK's label encoding
      const id = Array.from({ length: 1 + r.int(20) }, () =>
        r.bool(0.9) ? ID_CHARS[r.int(ID_CHARS.length)] : r.pick(HOSTILE),
      ).join('');
      const label = encodeURIComponent(id).replace(
        /[!'()*]/g,
        (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
      );
      return `${r.pick(['', '/prod', '/$default', '/dev-1'])}/@connections/${label}`;
    }
    default: {
      const segs = Array.from({ length: 1 + r.int(6) }, () => segment(r));
      return `/${segs.join('/')}${r.bool(0.2) ? '/' : ''}`;
    }
  }
}

const HEADER_NAMES = [
  'host',
  'content-length',
  'content-type',
  'x-amz-target',
  'x-amz-date',
  'date',
  'authorization',
  'user-agent',
  'x-amz-security-token',
  'x-amz-content-sha256',
  'proxy-authorization',
  'sec-fetch-mode',
  'x-amzn-trace-id',
  'expect',
  'te',
  'connection',
  'cache-control',
  'x-custom',
  'x-amz-meta-a',
  'amz-sdk-invocation-id',
  'amz-sdk-request',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '0',
  '12',
  'a',
  'A',
  'z',
  'Z',
  '_',
  'x-amz-user-agent',
  'range',
];

function randomCase(r: Rng, name: string): string {
  const mode = r.int(4);
  if (mode === 0) return name;
  if (mode === 1) return name.toUpperCase();
  if (mode === 2) return name.replace(/(^|-)([a-z])/g, (_, d: string, c: string) => d + c.toUpperCase());
  return [...name].map((c) => (r.bool() ? c.toUpperCase() : c)).join('');
}

function value(r: Rng): string {
  const parts = [
    'a',
    'B',
    '1',
    ' ',
    '  ',
    '\t',
    '\r\n',
    '\n',
    '\r',
    ' \t ',
    'é',
    '☃',
    ',',
    ';',
    '=',
    'v',
    '\u00a0',
    '\u000b',
    '\f',
    'UNSIGNED-PAYLOAD',
    'e3b0c442',
  ];
  let s = '';
  const n = r.int(8);
  for (let i = 0; i < n; i++) s += r.pick(parts);
  return s;
}

function headers(r: Rng): Record<string, string> {
  const h: Record<string, string> = {};
  if (r.bool(0.9))
    h[r.bool(0.8) ? 'host' : randomCase(r, 'host')] = r.pick([
      'example.execute-api.eu-west-1.amazonaws.com',
      'dynamodb.us-east-1.amazonaws.com',
      '127.0.0.1:8000',
      '[::1]:443',
    ]);
  const n = r.int(7);
  for (let i = 0; i < n; i++) {
    const name = randomCase(r, r.pick(HEADER_NAMES));
    h[name] = value(r);
    // same name, different case, different value
    if (r.bool(0.15)) h[randomCase(r, name.toLowerCase())] = value(r);
  }
  return h;
}

function body(r: Rng): string | Uint8Array {
  switch (r.int(5)) {
    case 0:
      return '';
    case 1:
      return JSON.stringify({ TableName: 't', Item: { d: { S: value(r) + segment(r) } } });
    case 2: {
      const bytes = new Uint8Array(r.int(64));
      for (let i = 0; i < bytes.length; i++) bytes[i] = r.int(256);
      return bytes;
    }
    case 3: {
      // a view into a larger buffer, as Buffer pools make
      const big = new Uint8Array(128);
      for (let i = 0; i < big.length; i++) big[i] = r.int(256);
      const start = r.int(64);
      return r.bool() ? big.subarray(start, start + r.int(64)) : Buffer.from(big.buffer, start, r.int(64));
    }
    default:
      return value(r) + segment(r);
  }
}

function date(r: Rng): Date {
  switch (r.int(4)) {
    case 0: {
      // around a UTC day boundary, ±2 s
      const day = Date.UTC(2000 + r.int(60), r.int(12), 1 + r.int(28));
      return new Date(day + r.int(4001) - 2000);
    }
    case 1:
      return new Date(Date.UTC(2026, 11, 31, 23, 59, 59, 999) + r.int(3));
    case 2:
      return new Date(r.int(4_102_444_800_000)); // 1970..2100
    default:
      return new Date(Date.now() + r.int(86_400_000));
  }
}

const CREDENTIALS: AwsCredentialIdentity[] = [
  { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  { accessKeyId: 'AKIDOTHER', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' }, // same secret, other id
  {
    accessKeyId: 'ASIAEXAMPLE',
    secretAccessKey: 'secret/with+chars',
    sessionToken: 'FwoGZXIvYXdzEJr//////////wEaDA==',
  },
  {
    accessKeyId: 'ASIAEXAMPLE',
    secretAccessKey: 'secret/with+chars',
    sessionToken: 'another token  with  spaces ',
  },
  { accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret/with+chars', sessionToken: '' },
  { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'sécret☃' },
];
const SERVICES = [
  ['execute-api', 'eu-west-1'],
  ['dynamodb', 'us-east-1'],
  ['dynamodb', 'ap-southeast-2'],
] as const;

const settle = async <T>(f: () => Promise<T>): Promise<{ ok: T } | { err: string }> => {
  try {
    return { ok: await f() };
  } catch (e) {
    return { err: (e as Error).constructor.name };
  }
};

const show = (x: unknown) =>
  JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? { bytes: Buffer.from(v).toString('hex') } : v));

describe('sigv4 property test (randomized, against SignatureV4)', () => {
  it(`matches SignatureV4 on ${RUNS} random requests (seed ${SEED}), with one long-lived signer per service`, async () => {
    const r = rng(SEED);
    // Long-lived signers whose credentials change underneath them, as a rotating provider's do.
    let current: AwsCredentialIdentity = CREDENTIALS[0] as AwsCredentialIdentity;
    const signers = SERVICES.map(([service, region]) => ({
      service,
      region,
      signer: new RequestSigner({ service, region, credentials: async () => current }),
    }));
    const mismatches: string[] = [];
    for (let run = 0; run < RUNS; run++) {
      const s = r.pick(signers);
      if (r.bool(0.3)) current = r.pick(CREDENTIALS);
      const req = {
        method: r.pick(['GET', 'POST', 'DELETE', 'PUT', 'HEAD', 'PATCH', 'post']),
        path: path(r),
        headers: headers(r),
        body: body(r),
      };
      const now = date(r);
      Object.freeze(req.headers);
      const before = show(req.headers);
      const ours = await settle(async () => Object.entries(await s.signer.sign(req, now)));
      const theirs = await settle(() =>
        sdkSigned(s.service, s.region, current, req, now, r.bool() ? SdkSha256 : Sha256),
      );
      if (show(req.headers) !== before) mismatches.push(`run ${run}: request headers mutated`);
      if (show(ours) !== show(theirs)) {
        mismatches.push(
          `run ${run} seed ${SEED}: ${show({ service: s.service, region: s.region, credentials: current, now: now.toISOString(), req })}\n  ours:   ${show(ours)}\n  theirs: ${show(theirs)}`,
        );
        if (mismatches.length > 5) break;
      }
    }
    expect(mismatches).toEqual([]);
  }, 120_000);

  it('known divergences outside what signed-http sends (documented, not failures)', async () => {
    const creds = CREDENTIALS[0] as AwsCredentialIdentity;
    const now = new Date('2026-03-01T00:00:00Z');
    const cases = [
      { method: 'GET', path: '', headers: { host: 'h' }, body: '' }, // SDK's HttpRequest makes it '/'
      { method: 'GET', path: 'prod/x', headers: { host: 'h' }, body: '' }, // SDK prefixes '/'
      { method: '', path: '/', headers: { host: 'h' }, body: '' }, // SDK makes it 'GET'
    ];
    const diverging: string[] = [];
    for (const req of cases) {
      const ours = Object.entries(
        await new RequestSigner({ service: 'dynamodb', region: 'us-east-1', credentials: creds }).sign(
          req,
          now,
        ),
      );
      const theirs = await sdkSigned('dynamodb', 'us-east-1', creds, req, now, SdkSha256);
      if (show(ours) !== show(theirs)) diverging.push(show(req));
    }
    // __proto__ as an own header name (only from JSON.parse / defineProperty): ours drops it.
    const proto = JSON.parse('{"host":"h","__proto__":"x"}') as Record<string, string>;
    const ours = await new RequestSigner({
      service: 'dynamodb',
      region: 'us-east-1',
      credentials: creds,
    }).sign({ method: 'GET', path: '/', headers: proto, body: '' }, now);
    const theirs = await sdkSigned(
      'dynamodb',
      'us-east-1',
      creds,
      { method: 'GET', path: '/', headers: proto, body: '' },
      now,
      SdkSha256,
    );
    if (show(Object.entries(ours)) !== show(theirs)) diverging.push('own __proto__ header');
    expect(diverging).toEqual([show(cases[0]), show(cases[1]), show(cases[2]), 'own __proto__ header']);
  });
});

/** An independent verifier of a received request (AWS SigV4 spec, header auth, no query). */
function verify(
  seen: { method: string; url: string; rawHeaders: string[]; body: Buffer },
  secret: string,
): { ok: boolean; why?: string } {
  const wire = new Map<string, string[]>();
  for (let i = 0; i < seen.rawHeaders.length; i += 2) {
    const name = (seen.rawHeaders[i] as string).toLowerCase();
    wire.set(name, [...(wire.get(name) ?? []), seen.rawHeaders[i + 1] as string]);
  }
  const auth = wire.get('authorization')?.[0] ?? '';
  const m =
    /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(
      auth,
    );
  if (!m) return { ok: false, why: `authorization: ${auth}` };
  const [, , day, region, service, signedList, signature] = m as unknown as string[];
  const signed = (signedList as string).split(';');
  for (const [name, values] of wire) {
    if (values.length !== 1) return { ok: false, why: `header ${name} sent ${values.length} times` };
    if (name !== 'authorization' && name !== 'connection' && !signed.includes(name))
      return { ok: false, why: `unsigned header on the wire: ${name}` };
  }
  for (const name of signed)
    if (!wire.has(name)) return { ok: false, why: `signed header not sent: ${name}` };
  const amzDate = wire.get('x-amz-date')?.[0] ?? '';
  if (amzDate.slice(0, 8) !== day) return { ok: false, why: 'date/scope' };
  const bodyHash = createHash('sha256').update(seen.body).digest('hex');
  if (wire.get('x-amz-content-sha256')?.[0] !== bodyHash) return { ok: false, why: 'payload hash' };
  // Canonical URI, non-S3: normalize, then encode each (already encoded) segment again.
  const rawPath = seen.url.split('?')[0] as string;
  const out: string[] = [];
  for (const s of rawPath.split('/')) {
    if (s === '' || s === '.') continue;
    if (s === '..') out.pop();
    else out.push(s);
  }
  const enc = (s: string) =>
    encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  const uri = `/${out.map(enc).join('/')}${out.length > 0 && rawPath.endsWith('/') ? '/' : ''}`;
  const canon = [
    seen.method,
    uri,
    '',
    ...signed.map((n) => `${n}:${(wire.get(n)?.[0] ?? '').trim().replace(/\s+/g, ' ')}`),
    '',
    signedList,
    bodyHash,
  ].join('\n');
  const sts = [
    'AWS4-HMAC-SHA256',
    amzDate,
    `${day}/${region}/${service}/aws4_request`,
    createHash('sha256').update(canon).digest('hex'),
  ].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${secret}`)
    .update(day as string)
    .digest();
  for (const p of [region, service, 'aws4_request'])
    key = createHmac('sha256', key)
      .update(p as string)
      .digest();
  const expected = createHmac('sha256', key).update(sts).digest('hex');
  return expected === signature
    ? { ok: true }
    : { ok: false, why: `signature; canonical request:\n${canon}` };
}

describe('signed-http on the wire', () => {
  it('sends exactly the signed headers, once each, and the signature verifies over the received request', async () => {
    const seen: { method: string; url: string; rawHeaders: string[]; body: Buffer }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({
          method: req.method ?? '',
          url: req.url ?? '',
          rawHeaders: req.rawHeaders,
          body: Buffer.concat(chunks),
        });
        res.writeHead(200, { 'content-length': '0' });
        res.end();
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    const r = rng(SEED + 1);
    let current: AwsCredentialIdentity = CREDENTIALS[2] as AwsCredentialIdentity;
    const https = [
      new SignedHttp({
        endpoint: new URL(`http://127.0.0.1:${port}/prod`),
        service: 'execute-api',
        region: 'eu-west-1',
        credentials: async () => current,
        maxSockets: 4,
        timeoutMs: 5000,
      }),
      new SignedHttp({
        endpoint: new URL(`http://127.0.0.1:${port}`),
        service: 'dynamodb',
        region: 'us-east-1',
        credentials: async () => current,
        maxSockets: 4,
        timeoutMs: 5000,
      }),
    ];
    const failures: string[] = [];
    try {
      for (let run = 0; run < 300; run++) {
        current = r.pick(CREDENTIALS.filter((c) => /^[\x20-\x7e]*$/.test(c.secretAccessKey)));
        const http = r.pick(https);
        const id = Array.from({ length: 1 + r.int(30) }, () =>
          r.bool(0.9) ? ID_CHARS[r.int(ID_CHARS.length)] : r.pick(HOSTILE),
        ).join('');
        const p =
          http === https[1]
            ? '/'
            : `/@connections/${encodeURIComponent(id).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)}`;
        const callerHeaders: Record<string, string> =
          http === https[1]
            ? { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.PutItem' }
            : {};
        const b = body(r);
        const method = http === https[1] ? 'POST' : r.pick(['POST', 'GET', 'DELETE']);
        const n = seen.length;
        await http.request(method, p, callerHeaders, method === 'POST' ? b : '');
        const got = seen[n];
        const v = got ? verify(got, current.secretAccessKey) : { ok: false, why: 'nothing received' };
        if (!v.ok) failures.push(`run ${run}: ${method} ${p} ${show(current)}: ${v.why}`);
        if (failures.length > 3) break;
      }
    } finally {
      for (const h of https) h.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    expect(failures).toEqual([]);
  }, 60_000);
});
