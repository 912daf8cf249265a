/**
 * The SDK's own signer (`SignatureV4`), as the tests that compare the hot path's signer
 * (lambdas/adapters/sigv4.ts) with it call it, and the SHA-256 it is given.
 */
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, ChecksumConstructor, HashConstructor } from '@smithy/types';

type Data = string | ArrayBuffer | ArrayBufferView;

const toBytes = (data: Data): string | Uint8Array =>
  typeof data === 'string'
    ? data
    : data instanceof ArrayBuffer
      ? new Uint8Array(data)
      : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);

/** SHA-256 (HMAC-SHA-256 when given a key) from node:crypto, in the shape the SDK's signer asks for. */
export class Sha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: Data) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', toBytes(secret));
  }
  update(data: Data): void {
    this.#hash.update(toBytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

/** A request as both signers take it: an already URI-encoded path, no query. */
export interface SdkSignable {
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string | Uint8Array;
}

/**
 * The headers `SignatureV4.sign` gives `request` at `date`, in order (as signed-http.ts sent them
 * before it signed with sigv4.ts). The signer reads no hostname; the request's own `host` header
 * is what it signs.
 */
export async function sdkSigned(
  service: string,
  region: string,
  credentials: AwsCredentialIdentity,
  request: SdkSignable,
  date: Date,
  sha256: ChecksumConstructor | HashConstructor = Sha256,
): Promise<[string, string][]> {
  const signer = new SignatureV4({ service, region, credentials, sha256 });
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: 'https:',
      hostname: 'unused.example',
      path: request.path,
      query: {},
      headers: { ...request.headers },
      body: request.body,
    },
    { signingDate: date },
  );
  return Object.entries(signed.headers);
}
