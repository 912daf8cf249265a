/**
 * The CPU floor of a push: the requests one publish sent, replayed as bare SigV4-signed calls on a
 * keep-alive agent in a process of their own (this file, forked), as the publish handler runs in
 * one. What is left above it is the handler's own work and its clients' per-call work. To tell
 * the two apart, the same process also replays the requests through the clients the handlers
 * build (`dynamoClientFromEnv`, `createManagementClient`): the calls alone, without the handler.
 * The process stays up between calls, so the bench can warm it as long as the handler's process
 * and measure it in windows that alternate with the handler's.
 */
import { Agent, request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import {
  BatchWriteItemCommand,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import type { DynamoSender } from '../../lambdas/adapters/dynamo-http';
import { createManagementClient } from '../../lambdas/adapters/management-gateway';
import { Sha256 } from '../../lambdas/adapters/signed-http';
import { ENV } from '../../lambdas/shared/env';
import { dynamoClientFromEnv } from '../../lambdas/wiring';
import type { RecordedCall } from './http-recorder';
import { FAKE_CREDENTIALS } from './kit';
import { forkWorker, serveWorker } from './worker';

type Replayed = Pick<RecordedCall, 'method' | 'url' | 'headers' | 'body' | 'kind'>;

/** How a round is sent: as bare signed calls (the floor), or through the handlers' own clients. */
export type ReplayVia = 'bare' | 'clients';

/** The first call gives the requests to replay; every call then replays them `rounds` times. */
type FloorRequest =
  | { readonly calls: readonly Replayed[] }
  | { readonly rounds: number; readonly via: ReplayVia };

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
  /**
   * Replays the requests `rounds` times, as bare signed calls unless `via` says `clients`, and gives
   * the CPU per round of that run alone.
   */
  run(rounds: number, via?: ReplayVia): Promise<FloorWindow>;
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
    run: async (rounds, via = 'bare') => {
      const window = await child.call({ rounds, via });
      if (window === null) throw new Error('the floor process answered a run with nothing');
      return window;
    },
    stop: () => child.stop(),
  };
}

/** The floor process's side: the requests, signed per send as the SDK signs each call. */
function replayer() {
  const agent = new Agent({ keepAlive: true });
  const signer = (service: string) =>
    new SignatureV4({ service, region: 'us-east-1', credentials: FAKE_CREDENTIALS, sha256: Sha256 });
  const signers = { dynamodb: signer('dynamodb'), 'execute-api': signer('execute-api') };
  let calls: readonly Replayed[] = [];
  let viaClients: ((call: Replayed, statuses: Record<string, number>) => Promise<void>) | undefined;
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
      viaClients = clientsReplayer(calls);
      return null;
    }
    const statuses: Record<string, number> = {};
    const sendOne = request.via === 'clients' ? viaClients : send;
    if (sendOne === undefined) throw new Error('no requests to replay yet');
    const before = process.cpuUsage();
    for (let i = 0; i < request.rounds; i++) {
      for (const call of calls) await sendOne(call, statuses);
    }
    const used = process.cpuUsage(before);
    return {
      perRoundMs: (used.user + used.system) / 1000 / request.rounds,
      rounds: request.rounds,
      statuses,
    };
  };
}

type DynamoInput = Record<string, unknown>;

/** The low-level command for each DynamoDB operation a push sends; its wire JSON is its input. */
const DYNAMO_COMMANDS: Readonly<
  Record<string, (client: DynamoSender, input: DynamoInput) => Promise<unknown>>
> = {
  Query: (client, input) => client.send(new QueryCommand(input as never)),
  PutItem: (client, input) => client.send(new PutItemCommand(input as never)),
  UpdateItem: (client, input) => client.send(new UpdateItemCommand(input as never)),
  GetItem: (client, input) => client.send(new GetItemCommand(input as never)),
  DeleteItem: (client, input) => client.send(new DeleteItemCommand(input as never)),
  BatchWriteItem: (client, input) => client.send(new BatchWriteItemCommand(input as never)),
};

/**
 * The requests sent through clients built as the handlers build theirs, with the bench's fake
 * credentials: DynamoDB calls as their low-level commands (the recorded body is the command's
 * input), posts as `PostToConnection` on a management client for the recorded endpoint. A refused
 * call (a replayed conditional write) counts under its status, as the floor's do.
 */
function clientsReplayer(calls: readonly Replayed[]) {
  process.env.AWS_ACCESS_KEY_ID = FAKE_CREDENTIALS.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = FAKE_CREDENTIALS.secretAccessKey;
  process.env.AWS_REGION ??= 'us-east-1';
  const dynamoUrl = calls.find((call) => call.kind === 'dynamodb')?.url;
  const dynamo =
    dynamoUrl === undefined ? undefined : dynamoClientFromEnv({ [ENV.dynamodbEndpoint]: dynamoUrl });
  const managers = new Map<string, ReturnType<typeof createManagementClient>>();
  const manager = (endpoint: string) => {
    let client = managers.get(endpoint);
    if (client === undefined) {
      client = createManagementClient({ endpoint, region: 'us-east-1', credentials: FAKE_CREDENTIALS });
      managers.set(endpoint, client);
    }
    return client;
  };
  return async (call: Replayed, statuses: Record<string, number>) => {
    const count = (status: number) => {
      statuses[status] = (statuses[status] ?? 0) + 1;
    };
    try {
      if (call.kind === 'dynamodb') {
        const operation = call.headers['x-amz-target']?.split('.').pop() ?? '';
        const command = DYNAMO_COMMANDS[operation];
        if (command === undefined || dynamo === undefined) throw new Error(`no SDK replay for ${operation}`);
        await command(dynamo, JSON.parse(call.body) as DynamoInput);
      } else {
        const url = new URL(call.url);
        const at = url.pathname.indexOf('/@connections/');
        const endpoint = `${url.origin}${url.pathname.slice(0, at)}`;
        const connectionId = decodeURIComponent(url.pathname.slice(at + '/@connections/'.length));
        await manager(endpoint).send(
          new PostToConnectionCommand({ ConnectionId: connectionId, Data: call.body }),
        );
      }
      count(200);
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === undefined) throw error;
      count(status);
    }
  };
}

if (process.argv[2] === '--floor') serveWorker(async () => ({ handle: replayer() }));
