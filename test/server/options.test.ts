/**
 * The options that name where to publish or what secret to read are checked when the publisher or
 * signer is made. The READMEs set them from environment variables (`process.env.X!`): one left
 * unset used to reach the AWS SDK as `undefined` and fail only at the first call, as a retryable
 * `unavailable` whose message named neither the option nor what to set (a signer's `secret`, as
 * `read is not a function` at the first sign); and an `httpPublisher`
 * given the banner's `…/publish` line posted to `/publish/publish`, answered `use GET`.
 */
import { LambdaClient, type LambdaClientConfig } from '@aws-sdk/client-lambda';
import { SecretsManagerClient, type SecretsManagerClientConfig } from '@aws-sdk/client-secrets-manager';
import { SNSClient, type SNSClientConfig } from '@aws-sdk/client-sns';
import { describe, expect, expectTypeOf, it } from 'vitest';
import {
  type AwsClient,
  type AwsClientConfig,
  createTokenSigner,
  DEV_TOKEN_SECRET,
  httpPublisher,
  lambdaPublisher,
  secretsManagerSecret,
  snsPublisher,
} from '../../server/src/index';

/** An option as an unset `process.env.X!` gives it, past the type checker. */
const unset = undefined as unknown as string;

describe('a publisher or signer made without the name it needs', () => {
  it.each([
    [
      'lambdaPublisher',
      'functionName',
      (v: string) => lambdaPublisher({ functionName: v }),
      'PublishFunctionArn',
    ],
    ['snsPublisher', 'topicArn', (v: string) => snsPublisher({ topicArn: v }), 'PublishTopicArn'],
    [
      'secretsManagerSecret',
      'secretId',
      (v: string) => secretsManagerSecret({ secretId: v }),
      'TokenSecretArn',
    ],
  ])(
    '%s throws a TypeError naming %s and the stack output to set it from',
    (_factory, option, make, output) => {
      expect(() => make(unset)).toThrow(TypeError);
      expect(() => make(unset)).toThrow(`${option} must be set`);
      expect(() => make(unset)).toThrow(`the stack's ${output}`);
      expect(() => make(unset)).toThrow('(got undefined)');
      expect(() => make('')).toThrow('(got an empty string)');
      expect(() => make('  ')).toThrow(TypeError);
    },
  );

  it('takes any non-empty name: whether it exists is for AWS to say', () => {
    expect(() => lambdaPublisher({ functionName: 'publish' })).not.toThrow();
    expect(() => snsPublisher({ topicArn: 'arn:aws:sns:us-east-1:000000000000:push-publish' })).not.toThrow();
    expect(() => secretsManagerSecret({ secretId: 'push-token' })).not.toThrow();
  });
});

describe('a token signer made without its secret', () => {
  it.each([
    ['undefined', unset, '(got undefined)'],
    ['null', null as unknown as string, '(got null)'],
    ['a number', 42 as unknown as string, '(got number)'],
  ])('throws a TypeError saying what secret takes, for %s', (_case, secret, got) => {
    // It used to be made, and its first sign failed with `read is not a function`.
    expect(() => createTokenSigner({ secret })).toThrow(TypeError);
    expect(() => createTokenSigner({ secret })).toThrow(
      'secret must be the key (a string: DEV_TOKEN_SECRET locally) or a function giving it',
    );
    expect(() => createTokenSigner({ secret })).toThrow(got);
  });

  it('takes the key or a function giving it', async () => {
    expect(await createTokenSigner({ secret: DEV_TOKEN_SECRET }).sign({ uid: 'u1' })).toMatch(/^ey/);
    expect(await createTokenSigner({ secret: async () => DEV_TOKEN_SECRET }).sign({ uid: 'u1' })).toMatch(
      /^ey/,
    );
  });
});

describe("an HTTP publisher's url", () => {
  it.each([
    ['missing', unset],
    ['with no scheme', '127.0.0.1:3000'],
    ['a WebSocket URL', 'ws://127.0.0.1:3000/local'],
  ])('throws a TypeError when %s, naming the address to give', (_case, url) => {
    expect(() => httpPublisher({ url })).toThrow(TypeError);
    expect(() => httpPublisher({ url })).toThrow('url must be an http:// or https:// address');
  });

  it.each(['http://127.0.0.1:3000', 'https://push.example.com/', 'HTTPS://push.example.com:8443'])(
    'takes %s, an http:// or https:// address',
    (url) => {
      expect(httpPublisher({ url }).publish).toBeTypeOf('function');
    },
  );

  it.each(['http://127.0.0.1:3000/publish', 'http://127.0.0.1:3000/publish/'])(
    'throws a TypeError for %s: the publisher adds /publish itself',
    (url) => {
      expect(() => httpPublisher({ url })).toThrow(TypeError);
      expect(() => httpPublisher({ url })).toThrow('without /publish (which httpPublisher adds)');
    },
  );

  it('posts to <url>/publish, with or without a trailing slash', async () => {
    const posted: string[] = [];
    const fetch = (async (input: string) => {
      posted.push(input);
      return new Response('{"id":"x"}', { status: 200 });
    }) as unknown as typeof globalThis.fetch;
    for (const url of ['http://127.0.0.1:3000', 'http://127.0.0.1:3000/', 'https://push.test'])
      await httpPublisher({ url, fetch }).publish({ to: { uid: 'u1' }, data: 1 });
    expect(posted).toEqual([
      'http://127.0.0.1:3000/publish',
      'http://127.0.0.1:3000/publish',
      'https://push.test/publish',
    ]);
  });
});

describe('the AWS SDK client a publisher or signer is given', () => {
  const lambda = () => new LambdaClient({ region: 'us-east-1' });
  const sns = () => new SNSClient({ region: 'us-east-1' });
  const secrets = () => new SecretsManagerClient({ region: 'us-east-1' });
  const makers: [string, (client: AwsClient) => unknown, () => AwsClient, () => AwsClient, string][] = [
    [
      'lambdaPublisher',
      (client) => lambdaPublisher({ functionName: 'publish', client }),
      lambda,
      sns,
      'LambdaClient (@aws-sdk/client-lambda), not a client of SNS',
    ],
    [
      'snsPublisher',
      (client) => snsPublisher({ topicArn: 'arn:aws:sns:us-east-1:0:t', client }),
      sns,
      secrets,
      'SNSClient (@aws-sdk/client-sns), not a client of Secrets Manager',
    ],
    [
      'secretsManagerSecret',
      (client) => secretsManagerSecret({ secretId: 'push-token', client }),
      secrets,
      lambda,
      'SecretsManagerClient (@aws-sdk/client-secrets-manager), not a client of Lambda',
    ],
  ];

  it.each(makers)('%s takes a client of its own service', (_name, make, right) => {
    expect(() => make(right())).not.toThrow();
  });

  it.each(makers)(
    "%s refuses another service's client when it is made, naming the class it needs",
    (_name, make, _right, wrong, message) => {
      // It used to be taken, and the first call failed with an error about the command.
      expect(() => make(wrong())).toThrow(TypeError);
      expect(() => make(wrong())).toThrow(`client must be a ${message}`);
    },
  );

  it.each(makers)(
    '%s takes a client of its service built with a serviceId of its own',
    (_name, make, right) => {
      const client = right() as AwsClient & { config: { serviceId: string } };
      client.config.serviceId = 'Push-EU';
      expect(() => make(client)).not.toThrow();
    },
  );

  it.each(makers)('%s takes a client without the SDK config, such as a test double', (_name, make) => {
    expect(() => make({ send: async () => ({}) })).not.toThrow();
  });

  it.each(makers)('%s refuses a client with no send method', (_name, make) => {
    expect(() => make({} as AwsClient)).toThrow('it has no send method');
  });

  it('refuses a client and a clientConfig together: the config would be ignored', () => {
    expect(() =>
      lambdaPublisher({ functionName: 'publish', client: lambda(), clientConfig: { region: 'eu-west-1' } }),
    ).toThrow('pass client or clientConfig, not both');
  });
});

describe('clientConfig, checked by tsc (npm run typecheck)', () => {
  type SdkConfigKey = keyof LambdaClientConfig | keyof SNSClientConfig | keyof SecretsManagerClientConfig;

  it('names every field the three SDK clients take, and takes their configs as they are', () => {
    // A field an SDK release adds shows here as a type error until AwsClientConfig has it too.
    expectTypeOf<Exclude<SdkConfigKey, keyof AwsClientConfig>>().toEqualTypeOf<never>();
    expectTypeOf<Exclude<keyof AwsClientConfig, SdkConfigKey>>().toEqualTypeOf<never>();
    const fromSdk = (
      lambda: LambdaClientConfig,
      sns: SNSClientConfig,
      secrets: SecretsManagerClientConfig,
    ) => [
      lambdaPublisher({ functionName: 'publish', clientConfig: lambda }),
      snsPublisher({ topicArn: 'arn:aws:sns:us-east-1:0:t', clientConfig: sns }),
      secretsManagerSecret({ secretId: 'push-token', clientConfig: secrets }),
    ];
    expectTypeOf(fromSdk).toBeFunction();
  });

  it('refuses a misspelt field and a value of the wrong type', () => {
    const misspelt = () =>
      // @ts-expect-error: regoin is not a field of an SDK client's config
      lambdaPublisher({ functionName: 'publish', clientConfig: { regoin: 'eu-west-1' } });
    const wrongType = () =>
      // @ts-expect-error: maxAttempts is a number
      snsPublisher({ topicArn: 'arn:aws:sns:us-east-1:0:t', clientConfig: { maxAttempts: '3' } });
    const portOnly = () =>
      // @ts-expect-error: endpoint is a URL, an endpoint object or a provider, not a port
      lambdaPublisher({ functionName: 'publish', clientConfig: { endpoint: 3000 } });
    const keyOnly = () =>
      // @ts-expect-error: credentials are an identity object or a provider of one
      secretsManagerSecret({ secretId: 'push-token', clientConfig: { credentials: 'AKIA…' } });
    expectTypeOf(portOnly).toBeFunction();
    expectTypeOf(keyOnly).toBeFunction();
    expectTypeOf(misspelt).toBeFunction();
    expectTypeOf(wrongType).toBeFunction();
  });
});
