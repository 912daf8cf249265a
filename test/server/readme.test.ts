/**
 * The README's backend section against the server package's types: every option of its factories
 * and every method of a publisher is named there. The lists below are held to the types by tsc
 * (npm run typecheck), so an option added to the package fails to compile here until it is
 * listed, and then this test until the README names it: the package's own README sends its
 * readers there.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../../infra/push-function';
import type {
  HttpPublisherOptions,
  KickOptions,
  LambdaPublisherOptions,
  Publisher,
  SecretsManagerSecretOptions,
  SnsPublisherOptions,
  SnsReceipt,
  TokenGrant,
  TokenSignerOptions,
} from '../../server/src/index';

/** Every key of `T`: `true` when the README must name it, or why it need not (a test hook). */
type Every<T> = Record<keyof T, true | string>;

const CLOCK = 'a clock for tests';

const DOCUMENTED = {
  lambdaPublisher: {
    functionName: true,
    client: true,
    clientConfig: true,
  } satisfies Every<LambdaPublisherOptions>,
  snsPublisher: { topicArn: true, client: true, clientConfig: true } satisfies Every<SnsPublisherOptions>,
  // What SNS publishes answer: without its fields, a reader cannot find the ids the package gave.
  snsReceipt: { messageId: true, ids: true } satisfies Every<SnsReceipt>,
  httpPublisher: { url: true, fetch: true, timeoutMs: true } satisfies Every<HttpPublisherOptions>,
  createTokenSigner: {
    secret: true,
    audience: true,
    ttlSeconds: true,
    now: CLOCK,
  } satisfies Every<TokenSignerOptions>,
  'signer.sign': { uid: true, topics: true, ttlSeconds: true } satisfies Every<TokenGrant>,
  secretsManagerSecret: {
    secretId: true,
    cacheMs: true,
    client: true,
    clientConfig: true,
    now: CLOCK,
    onStale: true,
  } satisfies Every<SecretsManagerSecretOptions>,
  kick: { reason: true, revoke: true, before: true } satisfies Every<KickOptions>,
  publisher: {
    publish: true,
    batch: true,
    presence: true,
    kick: true,
    status: true,
  } satisfies Every<Publisher>,
};

/** The README's section on using the packages from a backend, up to the client library's. */
function backendSection(): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('### From a backend');
  const end = readme.indexOf('### From a browser or Node: the client library');
  if (start === -1 || end === -1) throw new Error('the README has no backend section');
  return readme.slice(start, end);
}

describe("the README's backend section", () => {
  const section = backendSection();
  const named = Object.entries(DOCUMENTED).flatMap(([owner, keys]) =>
    Object.entries(keys).flatMap(([key, documented]) => (documented === true ? [[owner, key]] : [])),
  );

  it.each(named)('names %s’s %s', (_owner, key) => {
    // In code (`push.kick(`, `ttlSeconds: 900`), in prose (`cacheMs`) or in an answer (`"ids":`).
    expect(section).toMatch(new RegExp(`\`${key}\`|\\b${key}[:(]|"${key}":`));
  });
});
