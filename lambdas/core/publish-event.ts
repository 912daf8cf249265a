import { isInputError, type PushError } from '../shared/errors';
import { idsFrom } from './command';
import { type CommandDeps, runCommand } from './commands';
import { SendTooLateError } from './delivery';
import type { PublishOutcome } from './publish';

/** The SNS event shape the publish Lambda receives from its topic subscription. */
export interface SnsEvent {
  Records: { EventSource?: string; Sns: { MessageId?: string; Message: string } }[];
}

/** True when the invocation payload is an SNS event rather than a direct publish body. */
export function isSnsEvent(event: unknown): event is SnsEvent {
  if (typeof event !== 'object' || event === null || !Array.isArray((event as SnsEvent).Records))
    return false;
  const records = (event as SnsEvent).Records;
  return (
    records.length > 0 &&
    records.every(
      (r) =>
        typeof r === 'object' &&
        r !== null &&
        typeof r.Sns === 'object' &&
        r.Sns !== null &&
        typeof r.Sns.Message === 'string',
    )
  );
}

/** What an SNS invocation reports (only visible in logs and tests: SNS ignores return values). */
export interface SnsSummary {
  readonly results: PublishOutcome[];
  readonly rejected: number;
}

/** Observations of the SNS fan-in, for logs and metrics. */
export interface SnsEvents {
  /** A message was refused for its input: counted, never retried. */
  rejected?(messageId: string | undefined, error: PushError): void;
  /** A message failed on infrastructure: the invocation fails once every record has run. */
  failed?(messageId: string | undefined, error: unknown): void;
}

/**
 * Runs every record of an SNS event as a publish or a batch, one after the other. A message refused
 * for its input (presence, kick and status included: `forbidden`, they need a direct invoke) is
 * counted and skipped; a failure of infrastructure lets the others run and is rethrown
 * (the first one) at the end, so SNS retries the event and it finally lands in the DLQ. A publish
 * that brings no `id` gets one from the SNS message id, which SNS's retries keep.
 */
export async function runSnsEvent(
  event: SnsEvent,
  deps: CommandDeps,
  events: SnsEvents = {},
): Promise<SnsSummary> {
  const results: PublishOutcome[] = [];
  let rejected = 0;
  let infraFailure: { error: unknown } | undefined;
  for (const record of event.Records) {
    const messageId = record.Sns.MessageId;
    try {
      const outcome = await runCommand(record.Sns.Message, idsFrom(messageId), deps, { publishesOnly: true });
      if (outcome.kind === 'batch') results.push(...outcome.result.results);
      else if (outcome.kind === 'publish') results.push(outcome.result);
    } catch (error) {
      if (isInputError(error)) {
        rejected++;
        events.rejected?.(messageId, error);
      } else {
        infraFailure ??= { error };
        events.failed?.(messageId, error);
        // Out of time: each record after it would claim, take seqs and log, then fail the same way.
        if (error instanceof SendTooLateError) break;
      }
    }
  }
  if (infraFailure !== undefined) throw infraFailure.error;
  return { results, rejected };
}
