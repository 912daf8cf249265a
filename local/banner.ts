/**
 * What `npm start` prints once the stack is ready: every endpoint, and a copy-paste example for
 * each (wscat, curl, the npm scripts, the SDK clients, the AWS CLI). Every command must work when
 * pasted into a shell in the repository: wscat through `npx -y` (no install prompt), and fake
 * credentials with both region variables, `AWS_REGION` (SDKs, CLI v2) and `AWS_DEFAULT_REGION`
 * (CLI v1 reads only that one).
 */
import { HANDLER_NAMES } from '../lambdas/shared/deployment';
import { ENV } from '../lambdas/shared/env';
import { DEV_TOKEN_SECRET } from './dev-secret';
import { INVOCABLE_FUNCTIONS } from './lambda-invoke';
import { runtimeNote } from './runtime-match';
import { exampleTopicArn } from './sns-publish';
import type { LocalStack } from './stack';

/** Text of the startup banner (no colours, so it survives logs and CI). */
export function startupBanner(stack: LocalStack, readyMs: number): string {
  const { httpUrl, wsUrl, managementEndpoint, dynamodbEndpoint } = stack;
  const fn = Object.keys(INVOCABLE_FUNCTIONS)[0] ?? 'publish';
  const topicArn = exampleTopicArn(stack.region, '000000000000');
  const port = stack.port === 3000 ? '' : ` --url ${httpUrl}`;
  const tables = Object.values(stack.tableNames).join(', ');
  const { sharding } = stack;
  /** Fake credentials and the region, for commands run from a shell with no AWS setup. */
  const awsEnv = `AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=${stack.region} AWS_DEFAULT_REGION=${stack.region}`;
  // With its own PUSH_TOKEN_SECRET the stack's /dev/token refuses to sign (it signs only with the
  // dev secret), so the banner sends the user to npm run token, which needs the same secret.
  const devSecret = stack.tokenSecret === DEV_TOKEN_SECRET;
  // npm run token reads the audience from its own environment, which need not be the stack's:
  // the command carries it, so it works pasted into any shell.
  const signToken = `${stack.tokenAudience === undefined ? '' : `${ENV.tokenAudience}=${shellWord(stack.tokenAudience)} `}npm run -s token -- u1 --topics orders`;
  const rows: [string, string][] = [
    ['WebSocket', `${wsUrl}?token=<JWT>`],
    ['Demo page', `${httpUrl}/`],
    devSecret
      ? ['Dev token', `GET ${httpUrl}/dev/token?uid=u1&topics=orders`]
      : ['Tokens', `signed with your PUSH_TOKEN_SECRET: export it, then ${signToken}`],
    ['Publish (HTTP)', `POST ${httpUrl}/publish`],
    ['Metrics', `GET ${httpUrl}/metrics  (the handlers' EMF counters since start)`],
    ['Publish status', `GET ${httpUrl}/publish/<id>  (a sharded publish's progress)`],
    ['Lambda Invoke', `${httpUrl}  (FunctionName "${fn}")`],
    ['SNS Publish', `${httpUrl}  (any TopicArn, e.g. ${topicArn})`],
    ['Management API', `${managementEndpoint}/@connections/{connectionId}`],
    [
      'Shard queue (SQS)',
      `${stack.shardQueue.url}  (topic and broadcast publishes over ${sharding.threshold} connection${sharding.threshold === 1 ? '' : 's'}; ` +
        `${sharding.workerConcurrency} workers, ${sharding.rateBudget} deliveries/s)`,
    ],
    ['DynamoDB', `${dynamodbEndpoint}  (${stack.dynamodbDescription}; tables ${tables})`],
  ];
  // Where what could not be delivered waits, as the template names the queues.
  const { queues, index } = stack.deployment;
  const failed = [
    [queues[index.shardDeadLetterQueue], 'shard jobs that failed every run'],
    [queues[index.invokeFailureQueue], "publishes Lambda's async retries gave up on"],
  ].flatMap(([queue, what]) => (typeof queue === 'object' ? [`${queue.url}  (${what})`] : []));
  if (failed.length > 0) rows.push(['Dead letters (SQS)', failed.join('; ')]);
  const fns = stack.deployment.functions;
  rows.push([
    'Deployment',
    `${stack.templateSource === 'cache' ? 'cached template' : 'template synthesized from infra/ (cached for the next start)'}; ` +
      `$default ${fns.default.timeoutSeconds} s, reserved ${fns.default.reservedConcurrency ?? 'none'}; ` +
      `publish ${fns.publish.timeoutSeconds} s${fns.publish.reservedConcurrency === undefined ? '' : `, reserved ${fns.publish.reservedConcurrency}`}; ` +
      `worker ${fns.worker.timeoutSeconds} s; ` +
      runtimeNote(
        Object.values(fns).map((f) => f.runtime),
        process.version,
      ),
  ]);
  const hosting = functionHosting(stack);
  if (hosting !== undefined) rows.push(['Functions', hosting]);
  const width = Math.max(...rows.map(([name]) => name.length)) + 2;
  return `
push local stack ready in ${Math.round(readyMs)} ms

${rows.map(([name, value]) => `  ${name.padEnd(width)}${value}`).join('\n')}

Try it:
  # a client: connect as u1, then type {"action":"ping"} or {"action":"subscribe","topic":"orders"}${
    devSecret
      ? ''
      : '\n  # (npm run token signs with PUSH_TOKEN_SECRET: export the one this stack was started with)'
  }
  npx -y wscat -c "${wsUrl}?token=$(${signToken})"

  # push to u1 from a shell
  npm run publish --${port} --uid u1 --data '{"orderId":42}'
  curl -s ${httpUrl}/publish -H 'content-type: application/json' \\
    -d '{"to":{"topic":"orders"},"data":{"orderId":42}}'
  # a publish above the shard threshold answers {"id":…,"queued":true,"shards":n}; then
  curl -s ${httpUrl}/publish/<id>   # {"id":…,"status":"done","shards":n,…}

  # from a backend, with the real AWS SDK clients: only the endpoint changes
  # (the SDK still signs, so it needs some credentials: with none, AWS_ACCESS_KEY_ID=local
  #  AWS_SECRET_ACCESS_KEY=local AWS_REGION=${stack.region} will do; signatures are not checked)
  new LambdaClient({ endpoint: '${httpUrl}' }).send(new InvokeCommand({
    FunctionName: '${fn}',
    Payload: JSON.stringify({ to: { uid: 'u1' }, data: { orderId: 42 }, id: crypto.randomUUID() }) }))
  new SNSClient({ endpoint: '${httpUrl}' }).send(new PublishCommand({
    TopicArn: '${topicArn}', Message: JSON.stringify({ to: { all: true }, data: 'hello', id: crypto.randomUUID() }) }))
  # (an id makes the SDK's own retry of a call whose answer was lost the same publish)
  new ApiGatewayManagementApiClient({ endpoint: '${managementEndpoint}' })
    .send(new PostToConnectionCommand({ ConnectionId: '<id>', Data: 'hello' }))
  curl -s ${managementEndpoint}/@connections/<url-encoded id>      # GetConnection
  # (<id>: the connectionId= value of a "connection opened" line of this stack's log, trailing = included)

  # the same from the AWS CLI (v1 or v2), and the tables (the invoke's <(…) and >(…) need bash or
  # zsh; it prints the function's answer, and the CLI's own output goes to /dev/null)
  ${awsEnv} \\
    aws lambda invoke --endpoint-url ${httpUrl} --function-name ${fn} \\
    --payload fileb://<(echo '{"to":{"uid":"u1"},"data":{"orderId":42}}') >(cat; echo) >/dev/null
  ${awsEnv} \\
    aws sns publish --endpoint-url ${httpUrl} --topic-arn ${topicArn} --message '{"to":{"all":true},"data":"hello"}'
  ${awsEnv} \\
    aws dynamodb scan --table-name ${stack.tableName} --endpoint-url ${dynamodbEndpoint}

Ctrl-C stops everything.
`;
}

/**
 * Where the functions' execution environments run, when some are in child processes (`npm start --
 * --worker-processes N`, the `processes` option): each such function and its processes' pids, so a
 * profiler or `top` can find them. Undefined when every function runs in the stack's process.
 */
function functionHosting(stack: LocalStack): string | undefined {
  const inProcesses = HANDLER_NAMES.flatMap((name) => {
    const pids = stack.processStats(name)?.pids;
    if (pids === undefined) return [];
    const label = name === 'default' ? '$default' : name;
    // The count first: --worker-processes gives each worker environment one process at most, so
    // asking for more than PUSH_WORKER_CONCURRENCY starts fewer.
    const many = pids.length === 1 ? '' : 'es';
    return [
      `${label} in ${pids.length} child process${many} (pid${many === '' ? '' : 's'} ${pids.join(', ')})`,
    ];
  });
  if (inProcesses.length === 0) return undefined;
  const others = inProcesses.length === HANDLER_NAMES.length ? '' : '; the other functions in this process';
  return `${inProcesses.join('; ')}${others}`;
}

/** A value as one shell word: bare when it needs no quoting, else in single quotes. */
function shellWord(value: string): string {
  return /^[\w.:/@%+=,-]+$/.test(value) ? value : `'${value.replaceAll("'", `'\\''`)}'`;
}
