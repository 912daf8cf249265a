/**
 * The hot path's SigV4 signer (lambdas/adapters/sigv4.ts) against the SDK's own `SignatureV4`:
 * the same headers, in the same order, with the same signature, for the requests the hot-path
 * clients send and for headers, paths, bodies, credentials and dates they do not.
 */
import type { AwsCredentialIdentity } from '@smithy/types';
import { describe, expect, it } from 'vitest';
import { canonicalPath, longDateOf, RequestSigner } from '../../lambdas/adapters/sigv4';
import { sdkSigned } from '../support/sdk-signer';

type Case = {
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body: string | Uint8Array;
};

const HOST = 'example.execute-api.eu-west-1.amazonaws.com';

async function oursSigned(
  service: string,
  region: string,
  credentials: AwsCredentialIdentity,
  request: Case,
  date: Date,
): Promise<[string, string][]> {
  const signer = new RequestSigner({ service, region, credentials: async () => credentials });
  return Object.entries(await signer.sign({ ...request, headers: { ...request.headers } }, date));
}

const dynamoRequest = (body: string): Case => ({
  method: 'POST',
  path: '/',
  headers: {
    'content-type': 'application/x-amz-json-1.0',
    'x-amz-target': 'DynamoDB_20120810.PutItem',
    host: 'dynamodb.eu-west-1.amazonaws.com',
    'content-length': String(Buffer.byteLength(body)),
  },
  body,
});

const postRequest = (connectionId: string, data: string | Uint8Array): Case => ({
  method: 'POST',
  path: `/prod/@connections/${encodeURIComponent(connectionId)}`,
  headers: {
    host: HOST,
    'content-length': String(typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength),
  },
  body: data,
});

const CASES: readonly [string, Case][] = [
  [
    'a DynamoDB call',
    dynamoRequest('{"TableName":"push-messages","Item":{"pk":{"S":"uid#a"},"seq":{"N":"7"}}}'),
  ],
  [
    'a DynamoDB call with non-ASCII in its body',
    dynamoRequest('{"TableName":"t","Item":{"d":{"S":"héllo ☃ 𝄞"}}}'),
  ],
  [
    'an empty body',
    {
      method: 'GET',
      path: '/prod/@connections/abc%3D',
      headers: { host: HOST, 'content-length': '0' },
      body: '',
    },
  ],
  ['a post with a string body', postRequest('L0SM9cOFvHcCIhw=', '{"type":"message","seq":1}')],
  ['a post with a binary body', postRequest('a/b c', new Uint8Array([0, 1, 2, 250, 255]))],
  [
    'a delete',
    {
      method: 'DELETE',
      path: "/prod/@connections/x!'()*%2B",
      headers: { host: HOST, 'content-length': '0' },
      body: '',
    },
  ],
  [
    'a path with dot segments, doubled and trailing slashes',
    { method: 'GET', path: '/a/./b/../c//d/', headers: { host: HOST }, body: '' },
  ],
  ['a path of only a slash pair', { method: 'GET', path: '//', headers: { host: HOST }, body: '' }],
  [
    'headers the SDK leaves unsigned or drops, and mixed-case names',
    {
      method: 'POST',
      path: '/',
      headers: {
        Host: HOST,
        'User-Agent': 'x',
        authorization: 'old',
        'X-Amz-Date': '20000101T000000Z',
        Date: 'yesterday',
        'proxy-thing': '1',
        'sec-fetch': '2',
        'X-Custom': '  spaced \t  out\r\nvalue  ',
        'content-type': 'text/plain',
        connection: 'keep-alive',
      },
      body: 'hi',
    },
  ],
  [
    'a payload hash given by the caller',
    {
      method: 'PUT',
      path: '/x',
      headers: { host: HOST, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' },
      body: 'data',
    },
  ],
];

const CREDENTIALS: readonly [string, AwsCredentialIdentity][] = [
  [
    'long-term credentials',
    { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' },
  ],
  [
    'temporary credentials',
    {
      accessKeyId: 'ASIAEXAMPLE',
      secretAccessKey: 'secret/with+chars',
      sessionToken: 'FwoGZXIvYXdzEJr//////////wEaDA==',
    },
  ],
];

const DATES = [
  new Date('2015-08-30T12:36:00Z'),
  new Date('2026-12-31T23:59:59.999Z'),
  new Date('2027-01-01T00:00:00.001Z'),
];

describe('the hot-path SigV4 signer', () => {
  for (const [what, request] of CASES) {
    for (const [kind, credentials] of CREDENTIALS) {
      it(`signs ${what} with ${kind} as the SDK's signer does`, async () => {
        for (const [service, region] of [
          ['execute-api', 'eu-west-1'],
          ['dynamodb', 'us-east-1'],
        ] as const) {
          for (const date of DATES) {
            const ours = await oursSigned(service, region, credentials, request, date);
            const sdk = await sdkSigned(service, region, credentials, request, date);
            expect(ours).toEqual(sdk);
          }
        }
      });
    }
  }

  it('makes a new signing key when the credentials or the day change, and keeps it otherwise', async () => {
    const request = dynamoRequest('{}');
    let current: AwsCredentialIdentity = CREDENTIALS[0]?.[1] as AwsCredentialIdentity;
    const signer = new RequestSigner({
      service: 'dynamodb',
      region: 'eu-west-1',
      credentials: async () => current,
    });
    const check = async (date: Date) => {
      const ours = Object.entries(await signer.sign({ ...request, headers: { ...request.headers } }, date));
      expect(ours).toEqual(await sdkSigned('dynamodb', 'eu-west-1', current, request, date));
    };
    await check(new Date('2026-03-01T10:00:00Z'));
    await check(new Date('2026-03-01T23:59:59Z'));
    await check(new Date('2026-03-02T00:00:00Z'));
    current = CREDENTIALS[1]?.[1] as AwsCredentialIdentity;
    await check(new Date('2026-03-02T00:00:01Z'));
    current = { ...current, sessionToken: 'another-token' };
    await check(new Date('2026-03-02T00:00:02Z'));
    current = { ...current, secretAccessKey: 'rotated' };
    await check(new Date('2026-03-02T00:00:03Z'));
  });

  it('takes static credentials, and refuses credentials that are not valid as the SDK does', async () => {
    const request = dynamoRequest('{}');
    const date = DATES[0] as Date;
    const credentials = CREDENTIALS[0]?.[1] as AwsCredentialIdentity;
    const signer = new RequestSigner({ service: 'dynamodb', region: 'eu-west-1', credentials });
    expect(Object.entries(await signer.sign({ ...request, headers: { ...request.headers } }, date))).toEqual(
      await sdkSigned('dynamodb', 'eu-west-1', credentials, request, date),
    );
    const broken = new RequestSigner({
      service: 'dynamodb',
      region: 'eu-west-1',
      credentials: async () => ({ accessKeyId: 'x' }) as unknown as AwsCredentialIdentity,
    });
    await expect(broken.sign(request, date)).rejects.toThrow('Resolved credential object is not valid');
  });

  it('leaves the request it signs unchanged', async () => {
    const request = dynamoRequest('{}');
    const before = JSON.stringify(request.headers);
    const signer = new RequestSigner({
      service: 'dynamodb',
      region: 'eu-west-1',
      credentials: CREDENTIALS[1]?.[1] as AwsCredentialIdentity,
    });
    await signer.sign(request);
    expect(JSON.stringify(request.headers)).toBe(before);
  });

  it('formats dates and paths as the SDK does', () => {
    expect(longDateOf(new Date('2015-08-30T12:36:00.123Z'))).toBe('20150830T123600Z');
    expect(canonicalPath('/')).toBe('/');
    expect(canonicalPath('/prod/@connections/abc%3D')).toBe('/prod/%40connections/abc%253D');
  });
});
