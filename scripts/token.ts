/**
 * `npm run token -- <uid> [--topics a,b] [--ttl SECONDS]`: prints a client token signed with the
 * local secret (PUSH_TOKEN_SECRET, else the dev-only default the local stack uses; with
 * PUSH_TOKEN_AUDIENCE as its aud when that is set), and nothing
 * else, so it composes: `wscat -c "ws://127.0.0.1:3000/local?token=$(npm run -s token -- u1)"`.
 * Exit codes: 0 printed, 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import { ENV } from '../lambdas/shared/env';
import { resolveTokenSecret } from '../local/dev-secret';
import { devTokenRequest, signDevToken } from '../local/dev-token';

const USAGE = `usage: npm run token -- <uid> [--topics a,b] [--ttl SECONDS]

  <uid>           the user the token is for (or --uid)
  --topics a,b    topics (or prefix* patterns) the token may subscribe to
  --ttl SECONDS   lifetime (default 3600)

Signs with PUSH_TOKEN_SECRET, else the local stack's dev-only secret, and sets aud to
PUSH_TOKEN_AUDIENCE when that is set: give it the values the stack was started with.`;

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      uid: { type: 'string' },
      topics: { type: 'string', multiple: true },
      ttl: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  });
}
try {
  parsed = parse();
} catch (error) {
  fail((error as Error).message);
}
if (parsed.values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (parsed.positionals.length > 1) fail(`one uid only, got ${parsed.positionals.join(' ')}`);

const uid = parsed.values.uid ?? parsed.positionals[0];
if (uid === undefined) fail('a uid is required');
const request = devTokenRequest(uid, parsed.values.topics ?? [], parsed.values.ttl);
if (typeof request === 'string') fail(request);

const secret = resolveTokenSecret(undefined, process.env[ENV.tokenSecret]);
process.stdout.write(`${await signDevToken(request, secret, process.env[ENV.tokenAudience])}\n`);
