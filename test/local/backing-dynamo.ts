/**
 * The DynamoDB an integration or hardening test runs on (in the DynamoDB Local pass, any of them):
 * in-process dynalite by default, or a private database on the shared DynamoDB Local named by
 * `DYNAMODB_ENDPOINT`. Privacy comes from DynamoDB Local itself, which keeps one database per
 * access key id: a transparent proxy (test/support/dynamo-faults.ts with no faults) stamps each backing
 * store's requests with its own key, so parallel test files, and stacks within a file, never see
 * each other's tables, under the very table names the stack uses by default.
 */
import { randomUUID } from 'node:crypto';
import { startDynalite } from '../../local/dynalite';
import { startDynamoFaultProxy } from '../support/dynamo-faults';

/** A DynamoDB endpoint owned by one test or stack. */
export interface BackingDynamo {
  readonly endpoint: string;
  /** `dynalite` or `DynamoDB Local`, for messages and the report. */
  readonly kind: string;
  stop(): Promise<void>;
}

/**
 * Read once, when this module loads: a running stack sets `DYNAMODB_ENDPOINT` in `process.env` for
 * its handlers (to its own endpoint), so reading it later would chain a new store onto an old one.
 */
const SHARED_ENDPOINT = process.env.DYNAMODB_ENDPOINT || undefined;

/** The shared DynamoDB Local, when this run uses one. */
export function sharedDynamoEndpoint(): string | undefined {
  return SHARED_ENDPOINT;
}

/** Starts a private DynamoDB: dynalite, or an isolated database on the shared DynamoDB Local. */
export async function startBackingDynamo(): Promise<BackingDynamo> {
  const shared = sharedDynamoEndpoint();
  if (shared === undefined) {
    const dynalite = await startDynalite();
    return { endpoint: dynalite.endpoint, kind: 'dynalite', stop: () => dynalite.stop() };
  }
  const proxy = await startDynamoFaultProxy({
    target: shared,
    accessKeyId: `iso${randomUUID().replaceAll('-', '').slice(0, 16)}`,
  });
  return { endpoint: proxy.endpoint, kind: 'DynamoDB Local', stop: () => proxy.stop() };
}
