/**
 * The on-failure destinations of the hosted functions' asynchronous invocations, as the template
 * configures them (each function's EventInvokeConfig): each is an in-memory SQS queue that the
 * stack's SQS endpoint serves, so a failure record is read with `ReceiveMessage` at the queue URL
 * the template gives it, as from the deployed queue.
 */
import { QUOTAS } from '../lambdas/shared/quotas';
import type { FailureDestination } from './async-invoke';
import { type DeploymentModel, DeploymentModelError } from './deployment/model';
import { LocalSqsQueue } from './queue/sqs-queue';

/** Where the queues live. */
export interface InvokeDestinationsOptions {
  readonly region: string;
  readonly accountId: string;
  /** `http://127.0.0.1:PORT`: queue URLs live on the stack's own port. */
  readonly origin: string;
}

/** The destination queues and the lookup the functions send through. */
export interface InvokeDestinations {
  readonly queues: readonly LocalSqsQueue[];
  /** The destination an ARN names; undefined for one the template does not configure. */
  destination(arn: string): FailureDestination | undefined;
}

/**
 * A queue for each on-failure destination in `model`. Throws {@link DeploymentModelError} for a
 * destination that is not one of the template's SQS queues: the local stack delivers nowhere else.
 *
 * @example
 * const { queues, destination } = invokeDestinations(model, { region, accountId, origin });
 * destination(model.functions.publish.asyncInvoke.onFailure)?.send(JSON.stringify(record));
 */
export function invokeDestinations(
  model: DeploymentModel,
  options: InvokeDestinationsOptions,
): InvokeDestinations {
  const byArn = new Map<string, LocalSqsQueue>();
  for (const fn of Object.values(model.functions)) {
    const arn = fn.asyncInvoke?.onFailure;
    if (arn === undefined || byArn.has(arn)) continue;
    const queue = Object.values(model.queues).find((q) => q.arn === arn);
    if (queue === undefined)
      throw new DeploymentModelError(
        `the on-failure destination of ${fn.handler} (${arn}) is not an SQS queue of the template: ` +
          'the local stack sends failure records to SQS queues only',
      );
    byArn.set(
      arn,
      new LocalSqsQueue({
        name: queue.name,
        region: options.region,
        accountId: options.accountId,
        origin: options.origin,
        visibilityTimeoutMs: queue.visibilityTimeoutSeconds * 1000,
      }),
    );
  }
  return {
    queues: [...byArn.values()],
    destination(arn) {
      const queue = byArn.get(arn);
      if (queue === undefined) return undefined;
      return {
        name: queue.name,
        send(body) {
          // Lambda cannot deliver a record bigger than SQS takes (DestinationDeliveryFailures).
          const bytes = Buffer.byteLength(body, 'utf8');
          if (bytes > QUOTAS.maxSqsMessageBytes)
            throw new RangeError(
              `the record is ${bytes} bytes, over SQS's ${QUOTAS.maxSqsMessageBytes}-byte message limit`,
            );
          queue.send(body);
        },
      };
    },
  };
}
