import {
  DescribeSecretCommand,
  GetRandomPasswordCommand,
  GetSecretValueCommand,
  PutSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
  UpdateSecretVersionStageCommand,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { SecretRotation } from '../../lambdas/adapters/secret-rotation';
import {
  checkRotation,
  checkSigningKey,
  currentVersion,
  parseRotationEvent,
  pendingLabelLeft,
  type RotationStep,
  type SecretState,
} from '../../lambdas/core/rotation';
import { handler } from '../../lambdas/rotate-secret';
import { TOKEN_KEY } from '../../lambdas/shared/deployment';
import { RotationError } from '../../lambdas/shared/errors';

const sm = mockClient(SecretsManagerClient);
beforeEach(() => sm.reset());

const ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:push-token-AbCdEf';
const KEY = 'A'.repeat(TOKEN_KEY.length);

async function refusal(promise: Promise<unknown>): Promise<RotationError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(RotationError);
    return error as RotationError;
  }
  throw new Error('expected the step to be refused');
}

describe('parseRotationEvent', () => {
  it.each([
    [
      'a step',
      { Step: 'createSecret', SecretId: ARN, ClientRequestToken: 'v2' },
      { step: 'createSecret', secretId: ARN, versionId: 'v2' },
    ],
    [
      'a step with a rotation token',
      { Step: 'finishSecret', SecretId: ARN, ClientRequestToken: 'v2', RotationToken: 'rt' },
      { step: 'finishSecret', secretId: ARN, versionId: 'v2', rotationToken: 'rt' },
    ],
    [
      'a step with an empty rotation token',
      { Step: 'testSecret', SecretId: ARN, ClientRequestToken: 'v2', RotationToken: '' },
      { step: 'testSecret', secretId: ARN, versionId: 'v2' },
    ],
  ])('reads %s', (_label, event, request) => {
    expect(parseRotationEvent(event)).toEqual(request);
  });

  it.each([
    ['no object', 'createSecret', 'Step must be one of createSecret, setSecret, testSecret, finishSecret'],
    [
      'an unknown step',
      { Step: 'deleteSecret', SecretId: ARN, ClientRequestToken: 'v2' },
      'Step must be one of',
    ],
    ['no secret', { Step: 'createSecret', ClientRequestToken: 'v2' }, 'SecretId must be a non-empty string'],
    [
      'an empty version',
      { Step: 'createSecret', SecretId: ARN, ClientRequestToken: '' },
      'ClientRequestToken',
    ],
    [
      'a rotation token that is no string',
      { Step: 'createSecret', SecretId: ARN, ClientRequestToken: 'v2', RotationToken: 7 },
      'RotationToken must be a string',
    ],
  ])('refuses %s as rotation_invalid_event', (_label, event, message) => {
    const call = () => parseRotationEvent(event);
    expect(call).toThrow(RotationError);
    expect(call).toThrow(message);
    expect(() => call()).toThrow(expect.objectContaining({ code: 'rotation_invalid_event' }));
  });
});

describe('checkRotation', () => {
  const state = (versions: Record<string, string[]>, rotationEnabled = true): SecretState => ({
    rotationEnabled,
    versions,
  });

  it.each([
    ['proceeds with a pending version', state({ v1: ['AWSCURRENT'], v2: ['AWSPENDING'] }), 'proceed'],
    [
      'is done when the version is already current',
      state({ v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT'] }),
      'done',
    ],
    [
      'is done when the version is current and still pending',
      state({ v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT', 'AWSPENDING'] }),
      'done',
    ],
  ])('%s', (_label, secret, verdict) => {
    expect(checkRotation(secret, 'v2')).toBe(verdict);
  });

  it.each([
    ['rotation is disabled', state({ v2: ['AWSPENDING'] }, false), 'rotation_not_enabled'],
    ['the version is unknown', state({ v1: ['AWSCURRENT'] }), 'rotation_unknown_version'],
    [
      'the version is only previous',
      state({ v1: ['AWSCURRENT'], v2: ['AWSPREVIOUS'] }),
      'rotation_not_pending',
    ],
    ['the version has no label', state({ v1: ['AWSCURRENT'], v2: [] }), 'rotation_not_pending'],
  ])('refuses when %s', (_label, secret, code) => {
    expect(() => checkRotation(secret, 'v2')).toThrow(expect.objectContaining({ code }));
  });

  it.each([
    ['finishSecret', ['AWSCURRENT', 'AWSPENDING'], true],
    ['finishSecret', ['AWSCURRENT'], false],
    ['finishSecret', ['AWSPENDING'], false],
    ['createSecret', ['AWSCURRENT', 'AWSPENDING'], false],
    ['setSecret', ['AWSCURRENT', 'AWSPENDING'], false],
    ['testSecret', ['AWSCURRENT', 'AWSPENDING'], false],
  ] as const)('leaves a label to clear for %s on a version labelled %j: %s', (step, stages, left) => {
    const secret = state({ v1: ['AWSPREVIOUS'], v2: [...stages] });
    expect(pendingLabelLeft(secret, { step, secretId: ARN, versionId: 'v2' })).toBe(left);
  });

  it('finds the current version', () => {
    expect(currentVersion(state({ v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT'], v3: ['AWSPENDING'] }))).toBe('v2');
    expect(currentVersion(state({}))).toBeUndefined();
  });
});

describe('checkSigningKey', () => {
  it.each([
    ['a generated key', KEY],
    ['a key of exactly HS256 size', 'k'.repeat(TOKEN_KEY.minBytes)],
    ['a shorter string of multi-byte characters long enough in bytes', 'é'.repeat(TOKEN_KEY.minBytes / 2)],
  ])('accepts %s', async (_label, secret) => {
    await expect(checkSigningKey(secret)).resolves.toBeUndefined();
  });

  it.each([
    ['an empty value', ''],
    ['a key shorter than HS256 size', 'k'.repeat(TOKEN_KEY.minBytes - 1)],
  ])('refuses %s as rotation_unusable_key, without the value in the message', async (_label, secret) => {
    const error = await refusal(checkSigningKey(secret));
    expect(error.code).toBe('rotation_unusable_key');
    if (secret !== '') expect(error.message).not.toContain(secret);
  });
});

describe('SecretRotation', () => {
  const rotation = new SecretRotation(new SecretsManagerClient({}));
  const request = (step: RotationStep, extra: { rotationToken?: string } = {}) => ({
    step,
    secretId: ARN,
    versionId: 'v2',
    ...extra,
  });
  const notFound = () =>
    new ResourceNotFoundException({
      message: "Secrets Manager can't find the specified secret value",
      $metadata: {},
    });
  /** Stages the secret as a rotation in progress finds it: v1 current, v2 pending. */
  const staged = (
    versions: Record<string, string[]> = { v1: ['AWSCURRENT'], v2: ['AWSPENDING'] },
    enabled = true,
  ) =>
    sm
      .on(DescribeSecretCommand, { SecretId: ARN })
      .resolves({ RotationEnabled: enabled, VersionIdsToStages: versions });
  const pending = () =>
    sm.on(GetSecretValueCommand, { SecretId: ARN, VersionId: 'v2', VersionStage: 'AWSPENDING' });
  const writes = () => [
    ...sm.commandCalls(PutSecretValueCommand),
    ...sm.commandCalls(UpdateSecretVersionStageCommand),
  ];

  const steps: RotationStep[] = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'];

  it.each(steps)('%s does nothing when the version is already current', async (step) => {
    staged({ v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT'] });
    await expect(rotation.run(request(step))).resolves.toBe('already-current');
    expect(sm.calls()).toHaveLength(1);
  });

  it.each(steps.filter((step) => step !== 'finishSecret'))(
    '%s leaves AWSPENDING on a version already current to finishSecret',
    async (step) => {
      staged({ v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT', 'AWSPENDING'] });
      await expect(rotation.run(request(step))).resolves.toBe('already-current');
      expect(sm.calls()).toHaveLength(1);
    },
  );

  it.each(
    steps.flatMap(
      (step) =>
        [
          [
            step,
            'rotation is disabled',
            () => staged({ v1: ['AWSCURRENT'], v2: ['AWSPENDING'] }, false),
            'rotation_not_enabled',
          ],
          [step, 'the version is unknown', () => staged({ v1: ['AWSCURRENT'] }), 'rotation_unknown_version'],
          [
            step,
            'the version is not pending',
            () => staged({ v1: ['AWSCURRENT'], v2: ['AWSPREVIOUS'] }),
            'rotation_not_pending',
          ],
        ] as const,
    ),
  )('%s refuses, writing nothing, when %s', async (step, _label, stage, code) => {
    stage();
    expect((await refusal(rotation.run(request(step)))).code).toBe(code);
    expect(writes()).toEqual([]);
  });

  describe('createSecret', () => {
    it("generates a key like the secret's first and stores it as the pending version", async () => {
      staged();
      pending().rejects(notFound());
      sm.on(GetRandomPasswordCommand).resolves({ RandomPassword: KEY });
      sm.on(PutSecretValueCommand).resolves({});
      await expect(rotation.run(request('createSecret'))).resolves.toBe('created');
      expect(sm.commandCalls(GetRandomPasswordCommand)[0]?.args[0].input).toEqual({
        PasswordLength: 64,
        ExcludePunctuation: true,
      });
      expect(sm.commandCalls(PutSecretValueCommand).map((call) => call.args[0].input)).toEqual([
        { SecretId: ARN, ClientRequestToken: 'v2', SecretString: KEY, VersionStages: ['AWSPENDING'] },
      ]);
    });

    it('passes the rotation token on when Secrets Manager sends one', async () => {
      staged();
      pending().rejects(notFound());
      sm.on(GetRandomPasswordCommand).resolves({ RandomPassword: KEY });
      sm.on(PutSecretValueCommand).resolves({});
      await rotation.run(request('createSecret', { rotationToken: 'rt' }));
      expect(sm.commandCalls(PutSecretValueCommand)[0]?.args[0].input).toMatchObject({ RotationToken: 'rt' });
    });

    it('keeps the pending key an earlier attempt stored', async () => {
      staged();
      pending().resolves({ SecretString: KEY });
      await expect(rotation.run(request('createSecret'))).resolves.toBe('pending-exists');
      expect(sm.commandCalls(GetRandomPasswordCommand)).toEqual([]);
      expect(writes()).toEqual([]);
    });

    it.each([
      ['the pending version cannot be read', () => pending().rejects(new Error('throttled'))],
      [
        'GetRandomPassword fails',
        () => {
          pending().rejects(notFound());
          sm.on(GetRandomPasswordCommand).rejects(new Error('throttled'));
        },
      ],
      [
        'GetRandomPassword returns nothing',
        () => {
          pending().rejects(notFound());
          sm.on(GetRandomPasswordCommand).resolves({});
        },
      ],
    ])('fails as unavailable, storing nothing, when %s', async (_label, stage) => {
      staged();
      stage();
      await expect(rotation.run(request('createSecret'))).rejects.toMatchObject({ code: 'unavailable' });
      expect(writes()).toEqual([]);
    });
  });

  it('setSecret has nothing to set: the key lives in the secret alone', async () => {
    staged();
    await expect(rotation.run(request('setSecret'))).resolves.toBe('nothing-to-set');
    expect(sm.calls()).toHaveLength(1);
  });

  describe('testSecret', () => {
    it('passes a pending key that signs and verifies a token', async () => {
      staged();
      pending().resolves({ SecretString: KEY });
      await expect(rotation.run(request('testSecret'))).resolves.toBe('tested');
      expect(writes()).toEqual([]);
    });

    it('refuses a pending key too short for HS256', async () => {
      staged();
      pending().resolves({ SecretString: 'short' });
      expect((await refusal(rotation.run(request('testSecret')))).code).toBe('rotation_unusable_key');
    });

    it('fails as unavailable when createSecret stored no value', async () => {
      staged();
      pending().rejects(notFound());
      await expect(rotation.run(request('testSecret'))).rejects.toMatchObject({ code: 'unavailable' });
    });
  });

  describe('finishSecret', () => {
    it('moves AWSCURRENT from the current version to the pending one, then clears AWSPENDING', async () => {
      staged({ v0: ['AWSPREVIOUS'], v1: ['AWSCURRENT'], v2: ['AWSPENDING'] });
      sm.on(UpdateSecretVersionStageCommand).resolves({});
      await expect(rotation.run(request('finishSecret'))).resolves.toBe('finished');
      expect(sm.commandCalls(UpdateSecretVersionStageCommand).map((call) => call.args[0].input)).toEqual([
        { SecretId: ARN, VersionStage: 'AWSCURRENT', MoveToVersionId: 'v2', RemoveFromVersionId: 'v1' },
        { SecretId: ARN, VersionStage: 'AWSPENDING', RemoveFromVersionId: 'v2' },
      ]);
    });

    it('clears AWSPENDING from a version already current, which an earlier attempt left labelled', async () => {
      staged({ v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT', 'AWSPENDING'] });
      sm.on(UpdateSecretVersionStageCommand).resolves({});
      await expect(rotation.run(request('finishSecret'))).resolves.toBe('pending-cleared');
      expect(sm.commandCalls(UpdateSecretVersionStageCommand).map((call) => call.args[0].input)).toEqual([
        { SecretId: ARN, VersionStage: 'AWSPENDING', RemoveFromVersionId: 'v2' },
      ]);
    });

    it('finishes on a retry when clearing AWSPENDING failed after the version became current', async () => {
      // Prepare: the first attempt moves AWSCURRENT, then fails to clear AWSPENDING.
      sm.on(DescribeSecretCommand, { SecretId: ARN })
        .resolvesOnce({
          RotationEnabled: true,
          VersionIdsToStages: { v1: ['AWSCURRENT'], v2: ['AWSPENDING'] },
        })
        .resolves({
          RotationEnabled: true,
          VersionIdsToStages: { v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT', 'AWSPENDING'] },
        });
      sm.on(UpdateSecretVersionStageCommand).resolves({});
      sm.on(UpdateSecretVersionStageCommand, { VersionStage: 'AWSPENDING' })
        .rejectsOnce(new Error('throttled'))
        .resolves({});

      // Act
      await expect(rotation.run(request('finishSecret'))).rejects.toMatchObject({
        code: 'unavailable',
        message: 'could not clear the pending label',
      });
      const retried = await rotation.run(request('finishSecret'));

      // Assess: the retry took the label off instead of answering already-current.
      expect(retried).toBe('pending-cleared');
      expect(sm.commandCalls(UpdateSecretVersionStageCommand).map((call) => call.args[0].input)).toEqual([
        { SecretId: ARN, VersionStage: 'AWSCURRENT', MoveToVersionId: 'v2', RemoveFromVersionId: 'v1' },
        { SecretId: ARN, VersionStage: 'AWSPENDING', RemoveFromVersionId: 'v2' },
        { SecretId: ARN, VersionStage: 'AWSPENDING', RemoveFromVersionId: 'v2' },
      ]);
    });

    it('fails as unavailable when the leftover AWSPENDING cannot be cleared', async () => {
      staged({ v1: ['AWSPREVIOUS'], v2: ['AWSCURRENT', 'AWSPENDING'] });
      sm.on(UpdateSecretVersionStageCommand).rejects(new Error('throttled'));
      await expect(rotation.run(request('finishSecret'))).rejects.toMatchObject({
        code: 'unavailable',
        message: 'could not clear the pending label',
      });
    });

    it('fails as unavailable, with the cause, when the label cannot be moved', async () => {
      staged();
      const cause = new Error('throttled');
      sm.on(UpdateSecretVersionStageCommand).rejects(cause);
      await expect(rotation.run(request('finishSecret'))).rejects.toMatchObject({
        code: 'unavailable',
        message: 'could not make the pending key current',
        cause,
      });
    });
  });

  it('fails as unavailable when the secret cannot be described', async () => {
    sm.on(DescribeSecretCommand).rejects(new Error('AccessDenied'));
    await expect(rotation.run(request('createSecret'))).rejects.toMatchObject({ code: 'unavailable' });
  });
});

describe('the rotation handler', () => {
  it('runs the step Secrets Manager asks for', async () => {
    sm.on(DescribeSecretCommand).resolves({
      RotationEnabled: true,
      VersionIdsToStages: { v1: ['AWSCURRENT'], v2: ['AWSPENDING'] },
    });
    sm.on(UpdateSecretVersionStageCommand).resolves({});
    await handler({ Step: 'finishSecret', SecretId: ARN, ClientRequestToken: 'v2' });
    expect(sm.commandCalls(UpdateSecretVersionStageCommand)).toHaveLength(2);
  });

  it('fails the invocation on an event that is no rotation step, calling nothing', async () => {
    const event = { Step: 'rotate', SecretId: ARN, ClientRequestToken: 'v2' } as never;
    await expect(handler(event)).rejects.toMatchObject({ code: 'rotation_invalid_event' });
    expect(sm.calls()).toEqual([]);
  });
});
