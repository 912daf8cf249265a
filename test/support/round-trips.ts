/**
 * A recording proxy in front of DynamoDB that measures how many DynamoDB calls a request makes one
 * after the other: its sequential depth. Each request gets a level when it arrives: 1 + the
 * highest level among the requests whose answers had already gone back when it was sent (1 if
 * none). A call made only after another one answered is thus one level deeper; calls made side by
 * side share a level. No clock is read: levels come from the order of events alone.
 *
 * `depthBeforeFirstPost()` is what the bench reports as "sequential round trips before the first
 * post": the highest level among the requests answered before the first `@connections` post
 * arrived (`markPost()`, called from the emulator's post hook). With `holdFromLevel`, answers of
 * requests at that level or deeper wait until the first post: if the post depended on one of
 * them it would never come, so a regression shows as a missing message, never as a race.
 */
import { Agent, createServer, type IncomingHttpHeaders, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request through the proxy. */
export interface RecordedCall {
  /** `PutItem`, `Query`, ... (from `X-Amz-Target`). */
  readonly operation: string;
  readonly table: string | undefined;
  /** Its sequential depth: 1 + the deepest call already answered when it was sent. */
  readonly level: number;
  /** True once its answer went back to the caller. */
  answered: boolean;
  /** True when it was answered before the first post. */
  answeredBeforePost: boolean;
}

/** A running recorder. */
export interface RoundTripRecorder {
  /** `http://127.0.0.1:PORT`: give it to the stack as its DynamoDB endpoint. */
  readonly endpoint: string;
  /** The calls since the last `reset()`, in arrival order. */
  readonly calls: readonly RecordedCall[];
  /**
   * Starts a new measurement: forgets the calls so far; answers of calls at `holdFromLevel` or
   * deeper wait for the first post. @default holds nothing
   */
  reset(options?: { holdFromLevel?: number }): void;
  /** Notes that a post arrived; the first one releases every held answer. */
  markPost(): void;
  /** The deepest level answered before the first post (0 if none, or no post yet). */
  depthBeforeFirstPost(): number;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function operationOf(headers: IncomingHttpHeaders): string {
  const target = headers['x-amz-target'];
  return typeof target === 'string' ? target.slice(target.lastIndexOf('.') + 1) : '';
}

/**
 * Starts a recorder forwarding to `target` (dynalite or DynamoDB Local).
 *
 * @example
 * const recorder = await startRoundTripRecorder(dynamo.endpoint);
 * const stack = await startLocalStack({ port: 0, dynamodbEndpoint: recorder.endpoint });
 * stack.emulator.faults.management = { goneRate: Number.MIN_VALUE, random: () => (recorder.markPost(), 0.5) };
 * recorder.reset({ holdFromLevel: 3 });
 * // publish, wait for the frame...
 * recorder.depthBeforeFirstPost(); // 2
 */
export async function startRoundTripRecorder(target: string): Promise<RoundTripRecorder> {
  const to = new URL(target);
  const agent = new Agent({ keepAlive: true });
  let calls: RecordedCall[] = [];
  let holdFromLevel = Number.POSITIVE_INFINITY;
  let posted = false;
  let held: (() => void)[] = [];

  const server = createServer((req, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const mine = calls;
      const level = 1 + mine.filter((c) => c.answered).reduce((max, c) => Math.max(max, c.level), 0);
      let table: string | undefined;
      try {
        table = (JSON.parse(body.toString('utf8')) as { TableName?: string }).TableName;
      } catch {
        table = undefined;
      }
      const call: RecordedCall = {
        operation: operationOf(req.headers),
        table,
        level,
        answered: false,
        answeredBeforePost: false,
      };
      mine.push(call);
      const headers: IncomingHttpHeaders = {};
      for (const [name, value] of Object.entries(req.headers))
        if (!HOP_BY_HOP.has(name)) headers[name] = value;
      const upstream = request(
        { host: to.hostname, port: to.port, path: req.url, method: req.method, headers, agent },
        (answer) => {
          const parts: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => parts.push(chunk));
          answer.on('end', () => {
            const reply = () => {
              call.answeredBeforePost = !posted;
              res.writeHead(answer.statusCode ?? 500, answer.headers);
              res.end(Buffer.concat(parts));
              call.answered = true;
            };
            if (!posted && level >= holdFromLevel && mine === calls) held.push(reply);
            else reply();
          });
        },
      );
      upstream.on('error', () => {
        res.writeHead(502);
        res.end();
      });
      upstream.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const release = () => {
    const waiting = held;
    held = [];
    for (const reply of waiting) reply();
  };

  return {
    endpoint: `http://127.0.0.1:${port}`,
    get calls() {
      return calls;
    },
    reset(options = {}) {
      release();
      calls = [];
      posted = false;
      holdFromLevel = options.holdFromLevel ?? Number.POSITIVE_INFINITY;
    },
    markPost() {
      if (posted) return;
      posted = true;
      release();
    },
    depthBeforeFirstPost() {
      if (!posted) return 0;
      return calls.filter((c) => c.answeredBeforePost).reduce((max, c) => Math.max(max, c.level), 0);
    },
    async close() {
      release();
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
