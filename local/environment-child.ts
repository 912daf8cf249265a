/**
 * A Node process hosting execution environments of one function (see process-environment.ts):
 * imports the handler module once per environment (each import a separate module instance, so
 * each environment keeps its own clients and token bucket, as in Lambda) under the variables it
 * was forked with, and runs invocations for the parent over IPC, one at a time per environment.
 * Each answer carries the process's CPU time so far, which only this process can measure. The
 * handlers' stdout (Powertools logs, EMF metrics) goes to the parent through a pipe.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Context } from 'aws-lambda';
import { type InvocationHandle, invocationScope, runInInvocation } from './invocation-scope';
import { lambdaContext } from './lambda-context';
import type { ChildRequest, ChildResponse, InvokeRequest } from './process-environment';

const [modulePath, functionName, environmentsArg] = process.argv.slice(2);
const environments = Number(environmentsArg ?? '1');

function cpuMicros(): number {
  const cpu = process.cpuUsage();
  return cpu.user + cpu.system;
}

/** Answers the parent; an answer to a parent already gone is dropped (the process is ending). */
function reply(message: ChildResponse): void {
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
}

function contextFor(request: InvokeRequest): Context {
  return lambdaContext({ ...request.context, logStreamName: 'local-process' });
}

async function main(): Promise<void> {
  if (
    modulePath === undefined ||
    functionName === undefined ||
    !(Number.isInteger(environments) && environments > 0)
  ) {
    throw new Error('usage: environment-child <handler module> <function name> <environments>');
  }
  const handlers = await Promise.all(
    Array.from({ length: environments }, async (_, environment) => {
      const url = `${pathToFileURL(modulePath).href}?process-environment=${environment}`;
      const module = (await import(url)) as { handler?: unknown };
      if (typeof module.handler !== 'function')
        throw new Error(`${modulePath} does not export a handler function`);
      return module.handler as (event: unknown, context: Context) => Promise<unknown>;
    }),
  );

  /** Invocations running, by request id: what a cut request cuts. */
  const running = new Map<number, InvocationHandle>();
  process.on('message', (request: ChildRequest) => {
    if (request.type === 'cut') {
      running.get(request.id)?.cut();
      return;
    }
    const handler = handlers[request.environment];
    const invocation = invocationScope(functionName, request.context.awsRequestId);
    running.set(request.id, invocation);
    void runInInvocation(invocation.scope, async () => {
      if (handler === undefined)
        throw new RangeError(`no environment ${request.environment} in this process`);
      return handler(request.event, contextFor(request));
    })
      .finally(() => running.delete(request.id))
      .then(
        (result) => reply({ type: 'result', id: request.id, result, cpuMicros: cpuMicros() }),
        (error: unknown) => {
          const e = error instanceof Error ? error : new Error(String(error));
          const code: unknown = (e as Error & { code?: unknown }).code;
          reply({
            type: 'error',
            id: request.id,
            error: {
              name: e.name,
              message: e.message,
              ...(typeof code === 'string' ? { code } : {}),
              ...(e.stack === undefined ? {} : { stack: e.stack }),
            },
            cpuMicros: cpuMicros(),
          });
        },
      );
  });
  const stopProfile = await startProfile();
  // A profile that cannot be written is said, not dropped: the developer asked for it.
  const end = () =>
    void stopProfile()
      .catch((error: unknown) =>
        process.stderr.write(`CPU profile not written: ${(error as Error).message}\n`),
      )
      .finally(() => process.exit(0));
  // The parent went away (stopped, or crashed): an environment never outlives its stack.
  process.on('disconnect', end);
  // A parent that went away while the handler modules were loading closed the channel before
  // anything listened: its 'disconnect' has been and gone.
  if (!process.connected) end();
  process.on('SIGTERM', end);
  // Ctrl-C reaches the whole process group; the stack stops its environments itself (SIGTERM, or
  // the IPC channel closing), after their invocations, so this process ignores it.
  process.on('SIGINT', () => {});
  reply({ type: 'ready', functionName, cpuMicros: cpuMicros() });
}

/**
 * With `PUSH_LOCAL_CPU_PROFILE=<dir>` set, records a V8 CPU profile of the invocations and writes
 * it to `<dir>/<function>-<pid>.cpuprofile` when the process ends, making `<dir>` if need be (open
 * it in Chrome DevTools).
 */
async function startProfile(): Promise<() => Promise<void>> {
  const dir = process.env.PUSH_LOCAL_CPU_PROFILE;
  if (dir === undefined || dir === '') return async () => {};
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  let written = false;
  return async () => {
    if (written) return;
    written = true;
    const { profile } = await session.post('Profiler.stop');
    // A directory named for this run need not exist yet.
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${functionName}-${process.pid}.cpuprofile`), JSON.stringify(profile));
  };
}

main().catch((error: unknown) => {
  const e = error instanceof Error ? error : new Error(String(error));
  reply({ type: 'failed', error: { name: e.name, message: e.message } });
  process.exitCode = 1;
  if (process.connected) process.disconnect?.();
});
