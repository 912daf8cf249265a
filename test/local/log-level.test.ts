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

/** The tail of one invocation's log, invoked the way a backend invokes it. */
async function invocationLog(httpUrl: string, payload: object): Promise<{ log: string; answer: unknown }> {
  const client = new LambdaClient({
    endpoint: httpUrl,
    region: 'us-east-1',
    credentials: { accessKeyId: 'developer', secretAccessKey: 'developer' },
  });
  try {
    const out = await client.send(
      new InvokeCommand({ FunctionName: 'publish', LogType: 'Tail', Payload: JSON.stringify(payload) }),
    );
    return {
      answer: JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8')),
      log: Buffer.from(out.LogResult ?? '', 'base64').toString('utf8'),
    };
  } finally {
    client.destroy();
  }
}

/** The tail of one publish's log. */
async function publishLog(httpUrl: string, id: string): Promise<string> {
  const { answer, log } = await invocationLog(httpUrl, { id, to: { uid: 'nobody' }, data: 1 });
  expect(answer).toMatchObject({ id, connections: 0 });
  return log;
}

describe('at the default level, INFO', () => {
  const stack = useTestStack();

  it('logs each publish', async () => {
    expect(stack.environmentOf('publish').POWERTOOLS_LOG_LEVEL).toBe('INFO');
    const log = await publishLog(stack.httpUrl, 'info-1');
    expect(log).toContain('"message":"published"');
    expect(log).toContain('"Publishes":1');
  });

  it("keeps the function's WARN lines, which Powertools writes to stderr, in its log tail, and takes them to stdout with its other lines", async () => {
    // What reaches stdout: the stack's capture, which the handlers' stderr lines go through,
    // writes to whatever process.stdout.write is at the time.
    const written: string[] = [];
    const write = process.stdout.write;
    process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
      written.push(String(chunk));
      return (write as (...args: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
    }) as typeof process.stdout.write;
    try {
      // An SNS delivery whose message is no publish: logged as rejected, at WARN.
      const { answer, log } = await invocationLog(stack.httpUrl, {
        Records: [{ EventSource: 'aws:sns', Sns: { MessageId: 'sns-warn-1', Message: 'not a publish' } }],
      });
      expect(answer).toMatchObject({ rejected: 1 });
      expect(log).toMatch(/"level":"WARN","message":"SNS message rejected".*"snsMessageId":"sns-warn-1"/);
    } finally {
      process.stdout.write = write;
    }
    expect(written.filter((line) => line.includes('sns-warn-1'))).toEqual([
      expect.stringMatching(/^\{"level":"WARN","message":"SNS message rejected"/),
    ]);
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
