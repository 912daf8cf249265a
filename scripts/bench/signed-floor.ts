/**
 * The CPU floor of a push: the requests one publish sent, replayed as bare SigV4-signed calls on a
 * keep-alive agent in a process of their own (this file, forked), as the publish handler runs in
 * one. What is left above it is the handler's own work and the SDK's per-call machinery.
 */
import { type BinaryLike, createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import type { RecordedCall } from './http-recorder';
import { FAKE_CREDENTIALS } from './kit';
import { forkWorker, serveWorker } from './worker';

type Replayed = Pick<RecordedCall, 'method' | 'url' | 'headers' | 'body' | 'kind'>;

interface FloorInput {
  readonly calls: readonly Replayed[];
  readonly warmup: number;
  readonly rounds: number;
}

/**
 * Replays `calls` `warmup + rounds` times in a fresh process and measures the CPU (user + system)
 * per round of the last `rounds`; `statuses` counts the answers (a conditional write replayed
 * answers 400, as it would in AWS).
 */
export async function measureSignedFloor(calls: readonly RecordedCall[], warmup: number, rounds: number) {
  const child = await forkWorker<null, FloorInput, SignedFloor>(fileURLToPath(import.meta.url), ['--floor']);
  try {
    const replayed = calls.map(({ method, url, headers, body, kind }) => ({
      method,
      url,
      headers,
      body,
      kind,
    }));
    return await child.call({ calls: replayed, warmup, rounds });
  } finally {
    await child.stop();
  }
}

type Data = string | ArrayBuffer | ArrayBufferView;
const bytes = (data: Data) => (data instanceof ArrayBuffer ? new Uint8Array(data) : data) as BinaryLike;

/** The SHA-256 the signer needs, from node:crypto (HMAC when given a key). */
class Sha256 {
  readonly #hash: Hash | Hmac;
  constructor(secret?: Data) {
    this.#hash = secret === undefined ? createHash('sha256') : createHmac('sha256', bytes(secret));
  }
  update(data: Data): void {
    this.#hash.update(bytes(data));
  }
  async digest(): Promise<Uint8Array> {
    return this.#hash.digest();
  }
}

async function replay({ calls, warmup, rounds }: FloorInput) {
  const agent = new Agent({ keepAlive: true });
  const signer = (service: string) =>
    new SignatureV4({ service, region: 'us-east-1', credentials: FAKE_CREDENTIALS, sha256: Sha256 });
  const signers = { dynamodb: signer('dynamodb'), 'execute-api': signer('execute-api') };
  let statuses: Record<string, number> = {};
  const send = async (call: Replayed) => {
    const url = new URL(call.url);
    const signed = await signers[call.kind === 'dynamodb' ? 'dynamodb' : 'execute-api'].sign({
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
      const options = { agent, method: call.method, host: url.hostname, port: url.port, path: url.pathname };
      const req = request({ ...options, headers: signed.headers }, (res) => {
        statuses[res.statusCode ?? 0] = (statuses[res.statusCode ?? 0] ?? 0) + 1;
        res.resume();
        res.once('end', resolve);
      });
      req.once('error', reject);
      req.end(call.body);
    });
  };
  const round = async () => {
    for (const call of calls) await send(call);
  };
  for (let i = 0; i < warmup; i++) await round();
  statuses = {};
  const before = process.cpuUsage();
  for (let i = 0; i < rounds; i++) await round();
  const used = process.cpuUsage(before);
  agent.destroy();
  return { perRoundMs: (used.user + used.system) / 1000 / rounds, rounds, calls: calls.length, statuses };
}

type SignedFloor = Awaited<ReturnType<typeof replay>>;

if (process.argv[2] === '--floor') serveWorker(async () => ({ handle: replay }));
