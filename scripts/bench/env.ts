/**
 * The environment the bench runs handlers under. Set before any stack starts (the handlers read
 * it at module scope): Powertools logs silenced, or every connect would print two JSON lines to
 * the bench's stdout, and fake credentials against loopback endpoints only.
 */

/** Variables every in-process stack and every child process of the bench gets. */
export const QUIET_ENV: Readonly<Record<string, string>> = {
  POWERTOOLS_LOG_LEVEL: 'SILENT',
  POWERTOOLS_DEV: 'false',
  POWERTOOLS_METRICS_DISABLED: 'true',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
  AWS_EC2_METADATA_DISABLED: 'true',
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'bench',
  AWS_SECRET_ACCESS_KEY: 'bench',
};

/** Applies {@link QUIET_ENV} to this process (idempotent). */
export function applyQuietEnv(): void {
  for (const [key, value] of Object.entries(QUIET_ENV)) process.env[key] = value;
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
}

/** Fake credentials for the SDK clients the bench builds itself (against loopback only). */
export const FAKE_CREDENTIALS = { accessKeyId: 'bench', secretAccessKey: 'bench' } as const;
