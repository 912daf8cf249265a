/**
 * Scenario p's floor as a function: the requests one push sent, replayed as bare SigV4-signed calls
 * on a keep-alive agent (or, to split the ratio, through the clients the handlers build). It runs
 * in an execution environment process of the local stack (local/process-environment.ts), forked
 * and invoked exactly as the publish handler is, so the floor pays what any function invoked once
 * per push pays (the invocation's message, the process waking from idle) and the ratio is left
 * with what the handler and its clients add. See signed-floor.ts.
 */
import { Agent, request } from 'node:http';
import { PostToConnectionCommand } from '@aws-sdk/client-apigatewaymanagementapi';
import {
  BatchWriteItemCommand,
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import type { DynamoSender } from '../../lambdas/adapters/dynamo-http';
import { createManagementClient } from '../../lambdas/adapters/management-gateway';
import { RequestSigner } from '../../lambdas/adapters/sigv4';
import { ENV } from '../../lambdas/shared/env';
import { dynamoClientFromEnv } from '../../lambdas/wiring';
import type { RecordedCall } from './http-recorder';
import { FAKE_CREDENTIALS } from './kit';

/** One recorded request, as the floor replays it. */
export type Replayed = Pick<RecordedCall, 'method' | 'url' | 'headers' | 'body' | 'kind'>;

/** How a round is sent: as bare signed calls (the floor), or through the handlers' own clients. */
export type ReplayVia = 'bare' | 'clients';

/** The first invocation gives the requests to replay; every one after replays them `rounds` times. */
export type FloorEvent =
  | { readonly calls: readonly Replayed[] }
  | { readonly rounds: number; readonly via: ReplayVia };

/** How the replayed requests were answered, by HTTP status. */
export type FloorAnswer = { readonly statuses: Readonly<Record<string, number>> };

type Statuses = Record<string, number>;
type Send = (call: Replayed, statuses: Statuses) => Promise<void>;

const count = (statuses: Statuses, status: number) => {
  statuses[status] = (statuses[status] ?? 0) + 1;
};

/**
 * The bare floor: each request signed per send, on one keep-alive agent. Signed by the signer the
 * handler's clients use (lambdas/adapters/sigv4.ts, the SDK signer's signature in one pass): a
 * floor signing with the SDK's slower `SignatureV4` would credit the handler with beating its own
 * floor's signing, not with less overhead.
 */
function bareSender(): Send {
  const agent = new Agent({ keepAlive: true });
  const signer = (service: string) =>
    new RequestSigner({ service, region: 'us-east-1', credentials: FAKE_CREDENTIALS });
  const signers = { dynamodb: signer('dynamodb'), 'execute-api': signer('execute-api') };
  return async (call, statuses) => {
    const url = new URL(call.url);
    const headers = await signers[call.kind === 'dynamodb' ? 'dynamodb' : 'execute-api'].sign({
      method: call.method,
      path: url.pathname,
      headers: { ...call.headers, host: url.host, 'content-length': String(Buffer.byteLength(call.body)) },
      body: call.body,
    });
    await new Promise<void>((resolve, reject) => {
      const options = { agent, method: call.method, host: url.hostname, port: url.port, path: url.pathname };
      const req = request({ ...options, headers }, (res) => {
        count(statuses, res.statusCode ?? 0);
        res.resume();
        res.once('end', resolve);
      });
      req.once('error', reject);
      req.end(call.body);
    });
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
function clientsSender(calls: readonly Replayed[]): Send {
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
  return async (call, statuses) => {
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
      count(statuses, 200);
    } catch (error) {
      const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === undefined) throw error;
      count(statuses, status);
    }
  };
}

let calls: readonly Replayed[] = [];
const senders: Partial<Record<ReplayVia, Send>> = {};

/** Takes the requests (first invocation), then replays them `rounds` times one after another. */
export const handler = async (event: FloorEvent): Promise<FloorAnswer | null> => {
  if ('calls' in event) {
    calls = event.calls;
    senders.bare = bareSender();
    senders.clients = clientsSender(calls);
    return null;
  }
  const send = senders[event.via];
  if (send === undefined) throw new Error('no requests to replay yet');
  const statuses: Statuses = {};
  for (let i = 0; i < event.rounds; i++) {
    for (const call of calls) await send(call, statuses);
  }
  return { statuses };
};
