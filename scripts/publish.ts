/**
 * `npm run publish -- (--uid U | --uids a,b | --topic T | --all) --data JSON [--id ID] [--url URL]`:
 * publishes through the local stack's `POST /publish` with the server SDK (`httpPublisher`) and
 * prints the result JSON.
 *
 * The URL is --url, else http://127.0.0.1:$PORT, else http://127.0.0.1:3000. Exit codes: 0
 * published, 1 refused or unreachable (the error JSON goes to stderr), 2 bad arguments.
 */
import { parseArgs } from 'node:util';
import { httpPublisher, type PublishBody, PushApiError } from '../server/src/index';

const USAGE = `usage: npm run publish -- <target> --data JSON [--id ID] [--url URL]

  target:  --uid U | --uids a,b | --topic T | --all
  --data   the message data, as JSON (quote strings: --data '"hello"')
  --id     publish id (default: generated)
  --url    the local stack (default http://127.0.0.1:$PORT, else port 3000)

example: npm run publish -- --uid u1 --data '{"orderId":42}'`;

function fail(message: string, code = 2): never {
  process.stderr.write(code === 2 ? `${message}\n\n${USAGE}\n` : `${message}\n`);
  process.exit(code);
}

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      uid: { type: 'string' },
      uids: { type: 'string' },
      topic: { type: 'string' },
      all: { type: 'boolean' },
      data: { type: 'string' },
      id: { type: 'string' },
      url: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: false,
    strict: true,
  });
}
try {
  parsed = parse();
} catch (error) {
  fail((error as Error).message);
}
const args = parsed.values;
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}

const targets = [
  args.uid === undefined ? undefined : { uid: args.uid },
  args.uids === undefined
    ? undefined
    : {
        uids: args.uids
          .split(',')
          .map((uid) => uid.trim())
          .filter(Boolean),
      },
  args.topic === undefined ? undefined : { topic: args.topic },
  args.all ? { all: true } : undefined,
].filter((target) => target !== undefined);
if (targets.length !== 1) fail('name exactly one target: --uid, --uids, --topic or --all');
if (args.data === undefined) fail('--data is required');
let data: unknown;
try {
  data = JSON.parse(args.data);
} catch {
  fail(`--data must be JSON; for a string, quote it: --data '"${args.data}"'`);
}

const base = (args.url ?? `http://127.0.0.1:${process.env.PORT || 3000}`).replace(/\/+$/, '');
const body = { to: targets[0], data, ...(args.id === undefined ? {} : { id: args.id }) };
try {
  const result = await httpPublisher({ url: base }).publish(body as PublishBody);
  process.stdout.write(`${JSON.stringify(result)}\n`);
} catch (error) {
  // A --url the publisher cannot use (no http://, or ending in /publish): its message says why.
  if (error instanceof TypeError) fail(`--url: ${error.message}`);
  if (!(error instanceof PushApiError)) throw error;
  // fetch failing outright, as against a closed port, is a TypeError: nothing listens there.
  if (error.code === 'unavailable' && error.cause instanceof TypeError) {
    fail(
      `no local stack answers at ${base} (${error.cause.cause ?? error.cause.message}); start one with npm start`,
      1,
    );
  }
  fail(`publish refused: ${JSON.stringify({ error: { code: error.code, message: error.message } })}`, 1);
}
