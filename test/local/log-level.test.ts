/**
 * The template's log level reaches the handlers: a deployment at `WARN` leaves out the line every
 * publish logs at `INFO`, and keeps its metrics (EMF lines have no level). Read through Lambda's
 * own `LogType: Tail`, as an operator would see the invocation's log.
 */
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestStack } from './helpers';

// The suite silences the handlers from the shell (vitest.config.ts), and a level from the shell
// wins over the template's: here the template's must be the one that counts.
const shellLevel = process.env.POWERTOOLS_LOG_LEVEL;
beforeAll(() => {
  delete process.env.POWERTOOLS_LOG_LEVEL;
});
afterAll(() => {
  if (shellLevel !== undefined) process.env.POWERTOOLS_LOG_LEVEL = shellLevel;
});

/** The tail of one publish's log, invoked the way a backend invokes it. */
async function publishLog(httpUrl: string, id: string): Promise<string> {
  const client = new LambdaClient({
    endpoint: httpUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'developer', secretAccessKey: 'developer' },
  });
  try {
    const out = await client.send(
      new InvokeCommand({
        FunctionName: 'publish',
        LogType: 'Tail',
        Payload: JSON.stringify({ id, to: { uid: 'nobody' }, data: 1 }),
      }),
    );
    expect(JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8'))).toMatchObject({ id, connections: 0 });
    return Buffer.from(out.LogResult ?? '', 'base64').toString('utf8');
  } finally {
    client.destroy();
  }
}

describe('at the default level, INFO', () => {
  const stack = useTestStack();

  it('logs each publish', async () => {
    expect(stack.environmentOf('publish').POWERTOOLS_LOG_LEVEL).toBe('INFO');
    const log = await publishLog(stack.httpUrl, 'info-1');
    expect(log).toContain('"message":"published"');
    expect(log).toContain('"Publishes":1');
  });
});

describe('deployed with logLevel WARN', () => {
  const stack = useTestStack({ cdk: { props: { logLevel: 'WARN' } } });

  it('leaves out the INFO line of a publish and keeps its metrics', async () => {
    expect(stack.environmentOf('publish').POWERTOOLS_LOG_LEVEL).toBe('WARN');
    const log = await publishLog(stack.httpUrl, 'warn-1');
    expect(log).not.toContain('"message":"published"');
    expect(log).toContain('"Publishes":1');
  });
});
