/**
 * Reads configuration from the environment once, at module scope of each handler.
 * A missing required variable fails the cold start with its name in the message.
 */
export type Env = Readonly<Record<string, string | undefined>>;

/** Returns the variable's value, or throws naming it. */
export function requireEnv(name: string, env: Env = process.env): string {
  const value = env[name];
  if (value === undefined || value === '') {
    throw new Error(`missing required environment variable ${name}`);
  }
  return value;
}

/** Returns the variable's value, or `undefined` when unset or empty. */
export function optionalEnv(name: string, env: Env = process.env): string | undefined {
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

/** Reads a positive integer, falling back to `fallback` when unset; garbage fails loudly. */
export function intEnv(name: string, fallback: number, env: Env = process.env): number {
  const raw = optionalEnv(name, env);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`environment variable ${name} must be a positive integer, got ${JSON.stringify(raw)}`);
  }
  return value;
}

/** Reads a non-negative integer (0 allowed), falling back to `fallback` when unset. */
export function nonNegativeIntEnv(name: string, fallback: number, env: Env = process.env): number {
  const raw = optionalEnv(name, env);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(
      `environment variable ${name} must be a non-negative integer, got ${JSON.stringify(raw)}`,
    );
  }
  return value;
}
