import { TOKEN_KEY } from '../shared/deployment';
import { ROTATION_ERROR_CODES, RotationError, UnauthorizedError } from '../shared/errors';
import { secretKey, signToken, verifyToken } from './token';

/**
 * The decisions of Secrets Manager's four-step rotation of the token signing secret, without the
 * calls: which request this is, whether the version may be rotated in, which version is current,
 * and whether a pending value is a usable key. `adapters/secret-rotation.ts` makes the calls.
 */

/** Secrets Manager's staging labels, as the rotation protocol moves them. */
export const SECRET_STAGES = {
  /** The version everyone reads; new tokens are signed with it. */
  current: 'AWSCURRENT',
  /** The version current before the last rotation; tokens signed with it stay valid. */
  previous: 'AWSPREVIOUS',
  /** The version a rotation in progress is building. */
  pending: 'AWSPENDING',
} as const;

/** One of {@link SECRET_STAGES}. */
export type SecretStage = (typeof SECRET_STAGES)[keyof typeof SECRET_STAGES];

/** The rotation steps, in the order Secrets Manager invokes them. */
export const ROTATION_STEPS = ['createSecret', 'setSecret', 'testSecret', 'finishSecret'] as const;

/** One of {@link ROTATION_STEPS}. */
export type RotationStep = (typeof ROTATION_STEPS)[number];

/** One invocation of the rotation function, checked. */
export interface RotationRequest {
  readonly step: RotationStep;
  /** The secret's ARN. */
  readonly secretId: string;
  /** The version being rotated in: the event's `ClientRequestToken`, which becomes its version id. */
  readonly versionId: string;
  /** Proves the caller to Secrets Manager when the function acts through an assumed role; passed on. */
  readonly rotationToken?: string;
}

/**
 * Checks a rotation event; anything else is a {@link RotationError} `rotation_invalid_event`.
 *
 * @example
 * parseRotationEvent({ Step: 'createSecret', SecretId: arn, ClientRequestToken: 'v2' });
 * // { step: 'createSecret', secretId: arn, versionId: 'v2' }
 */
export function parseRotationEvent(event: unknown): RotationRequest {
  const fields = typeof event === 'object' && event !== null ? (event as Record<string, unknown>) : {};
  const {
    Step: step,
    SecretId: secretId,
    ClientRequestToken: versionId,
    RotationToken: rotationToken,
  } = fields;
  if (!ROTATION_STEPS.includes(step as RotationStep)) {
    throw invalidEvent(`Step must be one of ${ROTATION_STEPS.join(', ')}`);
  }
  if (typeof secretId !== 'string' || secretId === '')
    throw invalidEvent('SecretId must be a non-empty string');
  if (typeof versionId !== 'string' || versionId === '') {
    throw invalidEvent('ClientRequestToken must be a non-empty string');
  }
  if (rotationToken !== undefined && typeof rotationToken !== 'string') {
    throw invalidEvent('RotationToken must be a string when present');
  }
  return {
    step: step as RotationStep,
    secretId,
    versionId,
    ...(rotationToken === undefined || rotationToken === '' ? {} : { rotationToken }),
  };
}

function invalidEvent(message: string): RotationError {
  return new RotationError(ROTATION_ERROR_CODES.invalidEvent, `not a rotation event: ${message}`);
}

/** What `DescribeSecret` says about the secret that the rotation needs. */
export interface SecretState {
  readonly rotationEnabled: boolean;
  /** Each version id with its staging labels. */
  readonly versions: Readonly<Record<string, readonly string[]>>;
}

/** Whether a step has work to do: `done` when the version is already current. */
export type RotationVerdict = 'proceed' | 'done';

/**
 * The checks every step makes first: rotation is enabled, the version exists and is either
 * already current (a repeated or late call: nothing to do) or pending. Anything else means the
 * secret's labels are not what this rotation left, and the step must not touch them.
 */
export function checkRotation(state: SecretState, versionId: string): RotationVerdict {
  if (!state.rotationEnabled) {
    throw new RotationError(ROTATION_ERROR_CODES.notEnabled, 'rotation is not enabled for the secret');
  }
  const stages = state.versions[versionId];
  if (stages === undefined) {
    throw new RotationError(
      ROTATION_ERROR_CODES.unknownVersion,
      `version ${versionId} is not a version of the secret`,
    );
  }
  if (stages.includes(SECRET_STAGES.current)) return 'done';
  if (!stages.includes(SECRET_STAGES.pending)) {
    throw new RotationError(
      ROTATION_ERROR_CODES.notPending,
      `version ${versionId} is not labelled ${SECRET_STAGES.pending}, so no rotation is building it`,
    );
  }
  return 'proceed';
}

/**
 * Whether a step for a version that is already current ({@link checkRotation} says `done`) still
 * has something to do. Only finishSecret does, and only when the version still carries
 * `AWSPENDING`: an earlier finishSecret moved `AWSCURRENT` onto it, then failed to take the
 * pending label off. The earlier steps leave that label alone; it is finishSecret's to clear.
 */
export function pendingLabelLeft(state: SecretState, request: RotationRequest): boolean {
  const stages = state.versions[request.versionId] ?? [];
  return (
    request.step === 'finishSecret' &&
    stages.includes(SECRET_STAGES.current) &&
    stages.includes(SECRET_STAGES.pending)
  );
}

/** The version labelled `AWSCURRENT`, if any. */
export function currentVersion(state: SecretState): string | undefined {
  return Object.keys(state.versions).find((id) => state.versions[id]?.includes(SECRET_STAGES.current));
}

/**
 * Refuses a pending value that cannot sign client tokens: shorter than HS256's key size, or one
 * that does not survive a sign-and-verify round trip. The value never appears in the message.
 */
export async function checkSigningKey(secret: string, nowMs = Date.now()): Promise<void> {
  const key = secretKey(secret);
  if (key.byteLength < TOKEN_KEY.minBytes) {
    throw new RotationError(
      ROTATION_ERROR_CODES.unusableKey,
      `the pending key has ${key.byteLength} bytes; HS256 needs at least ${TOKEN_KEY.minBytes}`,
    );
  }
  try {
    const token = await signToken({ uid: 'rotation-check', ttlSeconds: 60, nowMs }, key);
    await verifyToken(token, key, { nowMs });
  } catch (error) {
    if (!(error instanceof UnauthorizedError)) throw error;
    throw new RotationError(
      ROTATION_ERROR_CODES.unusableKey,
      `a token signed with the pending key fails: ${error.message}`,
      {
        cause: error,
      },
    );
  }
}
