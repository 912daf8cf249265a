/**
 * Lambda's `Invoke` API (`POST /2015-03-31/functions/{name}/invocations`) for the functions the
 * local stack hosts, so `@aws-sdk/client-lambda`'s `InvokeCommand` works with only `endpoint`
 * changed. Supports the `RequestResponse`, `Event` and `DryRun` invocation types, `LogType: Tail`
 * (`LogResult`, the last 4 KB of the invocation's log), function errors
 * (`X-Amz-Function-Error: Unhandled`, a timeout as `Sandbox.Timedout`), throttles (429
 * `TooManyRequestsException` with the `Reason`), Lambda's payload limits (6 MB synchronous, 1 MB
 * `Event`), and the errors the SDK names.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HostedHandlerId } from '../lambdas/shared/deployment';
import { QUOTAS } from '../lambdas/shared/quotas';
import { functionErrorPayload, InvocationThrottledError } from './function-errors';
import type { LocalFunctions } from './functions';
import { readBody, requestUrl, sendAwsJsonError, utf8Text } from './http-util';
import type { IamEnforcer } from './iam/enforcer';
import { lambdaInvokeRequest } from './iam/requests';
import { withLogTail } from './invocation-log';

/** The path prefix of the Invoke API. */
export const INVOKE_PREFIX = '/2015-03-31/functions/';

/** Functions callable through Invoke, by name; only `publish` is meant to be called directly. */
export const INVOCABLE_FUNCTIONS: Readonly<Record<string, HostedHandlerId>> = { publish: 'publish' };

/** Lambda's synchronous payload limit. */
const MAX_PAYLOAD_BYTES = 6 * 1024 * 1024;

/**
 * The function name inside a name, a partial ARN (`123456789012:function:publish`) or a full ARN,
 * with an optional `:qualifier`.
 */
export function parseFunctionName(raw: string): { name: string; qualifier?: string } {
  const parts = raw.split(':');
  const at = parts.indexOf('function');
  const rest = at >= 0 ? parts.slice(at + 1) : parts;
  const [name = '', qualifier] = rest;
  return qualifier === undefined ? { name } : { name, qualifier };
}

/** The function name in the request path, or undefined when it is not valid percent-encoding. */
function decodedName(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

function notFound(res: ServerResponse, functions: LocalFunctions, raw: string): void {
  sendAwsJsonError(res, 404, 'ResourceNotFoundException', {
    Type: 'User',
    Message: `Function not found: ${raw.startsWith('arn:') ? raw : functions.arnOf(raw)}`,
  });
}

/** Handles a request under {@link INVOKE_PREFIX}. */
export async function handleLambdaInvoke(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  functions: LocalFunctions,
  iam?: IamEnforcer,
): Promise<void> {
  const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec(pathname);
  if (req.method !== 'POST' || match === null) {
    req.resume();
    sendAwsJsonError(res, 404, 'UnknownOperationException', { Type: 'User', message: 'Unknown operation' });
    return;
  }
  const raw = decodedName(match[1] as string);
  if (raw === undefined) {
    req.resume();
    notFound(res, functions, match[1] as string);
    return;
  }
  const { name, qualifier: pathQualifier } = parseFunctionName(raw);
  const qualifier = requestUrl(req.url)?.searchParams.get('Qualifier') ?? pathQualifier;
  const caller = iam?.callerOf(req);
  if (iam !== undefined && caller !== undefined) {
    const request = lambdaInvokeRequest(iam.scope, name, qualifier);
    const deployed = iam.functionArn?.(name);
    const resource =
      deployed === undefined
        ? request.resource
        : `${deployed}${qualifier === undefined || qualifier === '$LATEST' ? '' : `:${qualifier}`}`;
    if (iam.refuse(res, 'lambda', caller, [{ ...request, resource }])) {
      req.resume();
      return;
    }
  }
  // An own property only: `constructor` or `__proto__` names no function either.
  const handlerName = Object.hasOwn(INVOCABLE_FUNCTIONS, name) ? INVOCABLE_FUNCTIONS[name] : undefined;
  if (handlerName === undefined || (qualifier !== undefined && qualifier !== '$LATEST')) {
    req.resume();
    notFound(res, functions, raw);
    return;
  }

  const body = await readBody(req, MAX_PAYLOAD_BYTES);
  if (body.tooLarge) {
    sendAwsJsonError(res, 413, 'RequestTooLargeException', {
      Type: 'User',
      message: `Request must be smaller than ${MAX_PAYLOAD_BYTES} bytes for the InvokeFunction operation`,
    });
    return;
  }
  let event: unknown = {};
  if (body.bytes.length > 0) {
    const text = utf8Text(body.bytes);
    if (text === undefined) {
      sendAwsJsonError(res, 400, 'InvalidRequestContentException', {
        Type: 'User',
        message: 'Could not parse request body into json: Could not parse payload into json: Invalid UTF-8',
      });
      return;
    }
    try {
      event = JSON.parse(text);
    } catch (error) {
      sendAwsJsonError(res, 400, 'InvalidRequestContentException', {
        Type: 'User',
        message: `Could not parse request body into json: ${(error as Error).message}`,
      });
      return;
    }
  }

  const invocationType = req.headers['x-amz-invocation-type'] ?? 'RequestResponse';
  // One id for the answer's header and the invocation's context.awsRequestId, as in AWS.
  const requestId = crypto.randomUUID();
  const headers = { 'X-Amz-Executed-Version': '$LATEST', 'x-amzn-RequestId': requestId };
  if (invocationType === 'DryRun') {
    res.writeHead(204, headers);
    res.end();
    return;
  }
  if (invocationType === 'Event') {
    if (body.bytes.length > QUOTAS.maxAsyncInvokeBytes) {
      sendAwsJsonError(res, 413, 'RequestEntityTooLargeException', {
        Type: 'User',
        message: `${body.bytes.length} byte payload is too large for the Event invocation type (limit ${QUOTAS.maxAsyncInvokeBytes} bytes)`,
      });
      return;
    }
    functions.invokeAsync(handlerName, event, { requestId });
    res.writeHead(202, { ...headers, 'Content-Length': 0 });
    res.end();
    return;
  }
  if (invocationType !== 'RequestResponse') {
    sendAwsJsonError(res, 400, 'InvalidParameterValueException', {
      Type: 'User',
      message: `Unsupported invocation type ${String(invocationType)}`,
    });
    return;
  }

  const logType = req.headers['x-amz-log-type'] ?? 'None';
  if (logType !== 'None' && logType !== 'Tail') {
    sendAwsJsonError(res, 400, 'InvalidParameterValueException', {
      Type: 'User',
      message: `Unsupported log type ${String(logType)}`,
    });
    return;
  }
  const run = () => functions.invoke(handlerName, event, { requestId });
  const { outcome, tail } =
    logType === 'Tail'
      ? await withLogTail(requestId, run)
      : { outcome: (await Promise.allSettled([run()]))[0] as PromiseSettledResult<unknown>, tail: undefined };
  let payload: string;
  let functionError = false;
  if (outcome.status === 'fulfilled') payload = JSON.stringify(outcome.value ?? null);
  else {
    const error = outcome.reason;
    if (error instanceof InvocationThrottledError) {
      // Lambda refuses the call before running anything: not a function error but a 429.
      sendAwsJsonError(res, 429, 'TooManyRequestsException', {
        Reason: error.reason,
        Type: 'User',
        message: 'Rate Exceeded.',
      });
      return;
    }
    // A function error is still HTTP 200: the SDK reports it through FunctionError and the payload.
    functionError = true;
    payload = JSON.stringify(functionErrorPayload(error));
  }
  res.writeHead(200, {
    ...headers,
    ...(tail === undefined ? {} : { 'X-Amz-Log-Result': tail }),
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(payload),
    ...(functionError ? { 'X-Amz-Function-Error': 'Unhandled' } : {}),
  });
  res.end(payload);
}
