/**
 * The CPU floor of a push: the very requests one publish sent (same endpoints, same bodies),
 * replayed as bare SigV4-signed HTTP calls on a keep-alive agent, in a process of their own, as
 * the publish handler runs in one. What is left above this floor is the handler's own work and the
 * SDK's per-call machinery.
 *
 * The parent side is {@link measureSignedFloor}; the child runs when this file is forked.
 */
import { fork } from 'node:child_process';
import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import { FAKE_CREDENTIALS } from './env';
import type { RecordedCall } from './http-recorder';

type Replayed = Pick<RecordedCall, 'method' | 'url' | 'headers' | 'body' | 'kind'>;

interface FloorInput {
  readonly calls: readonly Replayed[];
  readonly warmup: number;
  readonly rounds: number;
}

/** What the floor measured: CPU (user + system) per round of the recorded calls. */
export interface SignedFloor {
  readonly perRoundMs: number;
  readonly rounds: number;
  readonly calls: number;
  /** Status codes seen, by code (a conditional write replayed answers 400, as it would in AWS). */
  readonly statuses: Readonly<Record<string, number>>;
}

const SELF = fileURLToPath(import.meta.url);

/**
 * Replays `calls` `warmup + rounds` times in a fresh process and measures the CPU of the last
 * `rounds`.
 *
 * @example
 * const floor = await measureSignedFloor(recorded, { warmup: 100, rounds: 300 });
 */
export function measureSignedFloor(
  calls: readonly RecordedCall[],
  { warmup, rounds }: { warmup: number; rounds: number },
): Promise<SignedFloor> {
  const child = fork(SELF, ['--signed-floor-child'], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the signed floor exited with ${code}`)));
    child.once('message', (result: SignedFloor) => {
      child.kill();
      resolve(result);
    });
    const input: FloorInput = {
      calls: calls.map(({ method, url, headers, body, kind }) => ({ method, url, headers, body, kind })),
      warmup,
      rounds,
    };
    child.send(input);
  });
}

function bytes(data: string | ArrayBuffer | ArrayBufferView): string | Uint8Array {
  if (typeof data === 'string') return data;
  return ArrayBuffer.isView(data)
    ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
    : new Uint8Array(data);
}

/** The SHA-256 the signer needs, from node:crypto (HMAC when given a key). */
class Sha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

async function runChild(input: FloorInput): Promise<SignedFloor> {
  const agent = new Agent({ keepAlive: true });
  const signers = {
    dynamodb: new SignatureV4({
      service: 'dynamodb',
      region: 'us-east-1',
      credentials: FAKE_CREDENTIALS,
      sha256: Sha256,
    }),
    'execute-api': new SignatureV4({
      service: 'execute-api',
      region: 'us-east-1',
      credentials: FAKE_CREDENTIALS,
      sha256: Sha256,
    }),
  };
  const statuses: Record<string, number> = {};
  const send = async (call: Replayed) => {
    const url = new URL(call.url);
    const signer = call.kind === 'dynamodb' ? signers.dynamodb : signers['execute-api'];
    const signed = await signer.sign({
      method: call.method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query: {},
      headers: { ...call.headers, host: url.host, 'content-length': String(Buffer.byteLength(call.body)) },
      body: call.body,
    });
    await new Promise<void>((resolve, reject) => {
      const req = request(
        {
          agent,
          method: call.method,
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          headers: signed.headers,
        },
        (res) => {
          statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
          res.resume();
          res.once('end', resolve);
        },
      );
      req.once('error', reject);
      req.end(call.body);
    });
  };
  const round = async () => {
    for (const call of input.calls) await send(call);
  };
  for (let i = 0; i < input.warmup; i++) await round();
  for (const key of Object.keys(statuses)) delete statuses[key];
  const before = process.cpuUsage();
  for (let i = 0; i < input.rounds; i++) await round();
  const used = process.cpuUsage(before);
  agent.destroy();
  return {
    perRoundMs: (used.user + used.system) / 1000 / input.rounds,
    rounds: input.rounds,
    calls: input.calls.length,
    statuses,
  };
}

if (process.argv[2] === '--signed-floor-child') {
  process.once('message', (input: FloorInput) => {
    void runChild(input).then((result) => process.send?.(result));
  });
  process.on('disconnect', () => process.exit(0));
}
