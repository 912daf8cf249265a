/**
 * The CPU floor of a push: the requests one publish sent, replayed as bare SigV4-signed calls on a
 * keep-alive agent in a process of their own (this file, forked), as the publish handler runs in
 * one. What is left above it is the handler's own work and the SDK's per-call machinery. The
 * process stays up between calls, so the bench can warm it as long as the handler's process and
 * measure it in windows that alternate with the handler's.
 */
import { type BinaryLike, createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { SignatureV4 } from '@smithy/signature-v4';
import type { RecordedCall } from './http-recorder';
import { FAKE_CREDENTIALS } from './kit';
import { forkWorker, serveWorker } from './worker';

type Replayed = Pick<RecordedCall, 'method' | 'url' | 'headers' | 'body' | 'kind'>;

/** The first call gives the requests to replay; every call then replays them `rounds` times. */
type FloorRequest = { readonly calls: readonly Replayed[] } | { readonly rounds: number };

/** CPU (user + system) per round of one call's rounds, and how the requests were answered. */
export interface FloorWindow {
  readonly perRoundMs: number;
  readonly rounds: number;
  readonly statuses: Readonly<Record<string, number>>;
}

/** A floor process holding the recorded requests. */
export interface SignedFloor {
  /** The number of requests one round sends. */
  readonly calls: number;
  /** Replays the requests `rounds` times and gives the CPU per round of that run alone. */
  run(rounds: number): Promise<FloorWindow>;
  stop(): Promise<void>;
}

/**
 * Forks a floor process for `calls` (a conditional write replayed answers 400, as it would in AWS).
 *
 * @example
 * const floor = await startSignedFloor(calls);
 * await floor.run(500); // warm-up
 * const { perRoundMs } = await floor.run(100);
 */
export async function startSignedFloor(calls: readonly RecordedCall[]): Promise<SignedFloor> {
  const child = await forkWorker<null, FloorRequest, FloorWindow | null>(fileURLToPath(import.meta.url), [
    '--floor',
  ]);
  try {
    const replayed = calls.map(({ method, url, headers, body, kind }) => ({
      method,
      url,
      headers,
      body,
      kind,
    }));
    await child.call({ calls: replayed });
  } catch (error) {
    await child.stop();
    throw error;
  }
  return {
    calls: calls.length,
    run: async (rounds) => {
      const window = await child.call({ rounds });
      if (window === null) throw new Error('the floor process answered a run with nothing');
      return window;
    },
    stop: () => child.stop(),
  };
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

/** The floor process's side: the requests, signed per send as the SDK signs each call. */
function replayer() {
  const agent = new Agent({ keepAlive: true });
  const signer = (service: string) =>
    new SignatureV4({ service, region: 'us-east-1', credentials: FAKE_CREDENTIALS, sha256: Sha256 });
  const signers = { dynamodb: signer('dynamodb'), 'execute-api': signer('execute-api') };
  let calls: readonly Replayed[] = [];
  const send = async (call: Replayed, statuses: Record<string, number>) => {
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
  return async (request: FloorRequest): Promise<FloorWindow | null> => {
    if ('calls' in request) {
      calls = request.calls;
      return null;
    }
    const statuses: Record<string, number> = {};
    const before = process.cpuUsage();
    for (let i = 0; i < request.rounds; i++) {
      for (const call of calls) await send(call, statuses);
    }
    const used = process.cpuUsage(before);
    return {
      perRoundMs: (used.user + used.system) / 1000 / request.rounds,
      rounds: request.rounds,
      statuses,
    };
  };
}

if (process.argv[2] === '--floor') serveWorker(async () => ({ handle: replayer() }));
