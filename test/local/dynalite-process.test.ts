/**
 * dynalite in a process of its own (`dynaliteProcess`, which `npm start` sets): the stack works
 * through it as through dynalite in its own process, its records live there and not in the stack's
 * process, `stop` flushes an on-disk store and ends it, and an end nobody asked for is said.
 */
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ListTablesCommand,
} from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { ATTR, CONNECTIONS_TABLE, MESSAGES_TABLE } from '../../lambdas/shared/tables';
import { startDynaliteProcess } from '../../local/dynalite';
import { ensureTables } from '../../local/dynamo';
import { type LogFields, type Logger, silentLogger } from '../../local/logger';
import type { LocalStack } from '../../local/stack';
import { stackTables, tableInputs } from '../../local/table-input';
import { within } from '../support/within';
import {
  alive,
  closeOpenSockets,
  connect,
  documentClient,
  documentClientAs,
  publishOk,
  recordsOf,
  startTestStack,
  WAIT_MS,
} from './helpers';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * The processes (among this one and its children) holding the socket that listens on `port` on
 * IPv4 loopback, from /proc (Linux): its inode in /proc/net/tcp, then each process's descriptors.
 */
function listenerPids(port: number): number[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  const inodes = readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    // local_address is field 1 (addr:port), st is field 3 (0A = LISTEN), inode is field 9.
    .filter((fields) => fields[1]?.endsWith(`:${hexPort}`) && fields[3] === '0A')
    .map((fields) => `socket:[${fields[9]}]`);
  const candidates = [
    process.pid,
    ...readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .map(Number),
  ].filter((pid) => Number.isInteger(pid) && pid > 0);
  // A descriptor may close between listing and reading it: each is read on its own.
  const holds = (pid: number, fd: string) => {
    try {
      return inodes.includes(readlinkSync(`/proc/${pid}/fd/${fd}`));
    } catch {
      return false;
    }
  };
  return candidates.filter((pid) => {
    try {
      return readdirSync(`/proc/${pid}/fd`).some((fd) => holds(pid, fd));
    } catch {
      return false;
    }
  });
}

const dirs: string[] = [];
const stacks: LocalStack[] = [];

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'dynalite-process-'));
  dirs.push(dir);
  return dir;
}

async function start(options: Parameters<typeof startTestStack>[0] = {}): Promise<LocalStack> {
  const stack = await startTestStack({ dynaliteProcess: true, ...options });
  stacks.push(stack);
  return stack;
}

afterEach(async () => {
  await closeOpenSockets();
  await Promise.all(stacks.splice(0).map((stack) => stack.stop()));
});
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

describe('dynalite in a process of its own', () => {
  it('serves the stack: a push reaches its socket, the record is read back through it, and stop ends the process', async () => {
    const stack = await start();
    const own = stack.dynaliteProcess;
    if (own === undefined) throw new Error('the stack started no dynalite process');
    expect(alive(own.pid)).toBe(true);
    expect(stack.dynamodbDescription).toBe(`dynalite, in memory, process ${own.pid}`);

    const socket = await connect(stack, 'u-own-process');
    const [record] = await recordsOf(stack, socket.connectionId);
    expect(record?.[ATTR.uid]).toBe('u-own-process');
    expect(await publishOk(stack, { to: { uid: 'u-own-process' }, data: { n: 1 } })).toMatchObject({
      delivered: 1,
      failed: 0,
    });
    expect(await socket.nextJson()).toMatchObject({ data: { n: 1 } });

    await socket.close();
    await stacks.splice(0).pop()?.stop();
    expect(alive(own.pid)).toBe(false);
  });

  it('keeps an on-disk store across a stop and a start with the same directory', async () => {
    const dataDir = tempDir();
    const first = await start({ dataDir });
    expect(first.dynamodbDescription).toContain(`dynalite, on disk in ${dataDir}, process `);
    const item = { [ATTR.pk]: 'kept-across-restart', [ATTR.sk]: 'probe', note: 'written before the stop' };
    const writer = documentClient(first);
    await writer.send(new PutCommand({ TableName: first.tableName, Item: item }));
    writer.destroy();
    await stacks.splice(0).pop()?.stop();

    const second = await start({ dataDir });
    const reader = documentClient(second);
    try {
      const out = await reader.send(
        new GetCommand({
          TableName: second.tableName,
          Key: { [ATTR.pk]: item[ATTR.pk], [ATTR.sk]: item[ATTR.sk] },
          ConsistentRead: true,
        }),
      );
      expect(out.Item).toEqual(item);
    } finally {
      reader.destroy();
    }
  });

  it('says so when the process ends unasked: lost settles with why and the stack logs an error', async () => {
    const errors: { message: string; fields?: LogFields }[] = [];
    const logger: Logger = {
      debug() {},
      info() {},
      warn() {},
      error: (message, fields) => errors.push({ message, ...(fields === undefined ? {} : { fields }) }),
    };
    const stack = await start({ logger });
    const own = stack.dynaliteProcess;
    if (own === undefined) throw new Error('the stack started no dynalite process');
    process.kill(own.pid, 'SIGKILL');
    expect(await own.lost).toBe(`dynalite's process (pid ${own.pid}) ended: signal SIGKILL`);
    expect(errors).toContainEqual({
      message: 'DynamoDB is gone, and every record with it: stop the stack and start it again',
      fields: { why: `dynalite's process (pid ${own.pid}) ended: signal SIGKILL` },
    });
  });

  it("ignores a SIGTERM sent to the stack's whole process group: the stack stops it last, after the sockets' $disconnect", async () => {
    const stack = await start();
    const own = stack.dynaliteProcess;
    if (own === undefined) throw new Error('the stack started no dynalite process');
    const socket = await connect(stack, 'u-group-term');
    process.kill(own.pid, 'SIGTERM');
    // Still serving: the record is read through it, and a push still finds the socket.
    expect(await recordsOf(stack, socket.connectionId)).toHaveLength(1);
    expect(await publishOk(stack, { to: { uid: 'u-group-term' }, data: { n: 2 } })).toMatchObject({
      delivered: 1,
    });
    expect(await socket.nextJson()).toMatchObject({ data: { n: 2 } });
    // The socket's $disconnect deletes its record on the way out, through the same process.
    await socket.close();
    expect(await recordsOf(stack, socket.connectionId)).toEqual([]);
    expect(alive(own.pid)).toBe(true);
  });

  it('ends with the process that started it, even one killed outright: it watches the IPC channel', async () => {
    const script = join(tempDir(), 'parent.mts');
    writeFileSync(
      script,
      `import { startDynaliteProcess } from ${JSON.stringify(join(ROOT, 'local', 'dynalite.ts'))};\n` +
        `const own = await startDynaliteProcess();\nprocess.stdout.write(\`\${own.pid}\\n\`);\nsetInterval(() => {}, 1000);\n`,
    );
    const parent = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const lines = createInterface({ input: parent.stdout as NodeJS.ReadableStream });
    const [line] = (await within(once(lines, 'line'), 30_000, "the parent to print dynalite's pid")) as [
      string,
    ];
    const pid = Number(line);
    expect(alive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await once(parent, 'exit');
    // Not this process's child, so no exit event reaches it: checked every 10 ms instead of in a
    // setImmediate loop, which kept a core busy while the process it waits for needs CPU to end.
    await within(
      (async () => {
        while (alive(pid)) await new Promise((resolve) => setTimeout(resolve, 10));
      })(),
      WAIT_MS,
      "dynalite's process to end after its parent was killed",
    );
  });

  it('ends when its parent went away while it was still loading, before anything listened for that', async () => {
    const child = fork(join(ROOT, 'local', 'dynalite-child.ts'), [], {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
    });
    try {
      // Closed at once: the child's modules take far longer to load than this takes.
      child.disconnect();
      const [code] = (await within(once(child, 'exit'), 20_000, "dynalite's process to end")) as [number];
      expect(code).toBe(0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  });

  it('reports its memory after a full collection: what its records hold', async () => {
    const stack = await start();
    const own = stack.dynaliteProcess;
    if (own === undefined) throw new Error('the stack started no dynalite process');
    const usage = await own.memory();
    expect(usage.rss).toBeGreaterThan(usage.heapUsed);
    expect(usage.heapUsed).toBeGreaterThan(0);
  });

  it("gates the functions' calls beside dynalite, in its process, with their roles: a refusal is logged and counted by the stack", async () => {
    // The denial comes back over IPC, apart from the HTTP answer: the test waits for its line.
    let denialLogged!: (line: string) => void;
    const denialLine = new Promise<string>((resolve) => {
      denialLogged = resolve;
    });
    const logger: Logger = {
      debug() {},
      info() {},
      error() {},
      warn: (message) => {
        if (message.startsWith('IAM denied')) denialLogged(message);
      },
    };
    const stack = await start({ logger });
    const own = stack.dynaliteProcess;
    if (own === undefined) throw new Error('the stack started no dynalite process');
    // The functions reach DynamoDB through a gate that listens in dynalite's process.
    expect(stack.functionsDynamodbEndpoint).not.toBe(stack.dynamodbEndpoint);
    if (process.platform === 'linux') {
      const port = Number(new URL(stack.functionsDynamodbEndpoint).port);
      expect(listenerPids(port)).toEqual([own.pid]);
    }
    // An allowed call: $connect puts the record with its own role.
    const socket = await connect(stack, 'u-gated');
    expect(await recordsOf(stack, socket.connectionId)).toHaveLength(1);
    // A refused one: the authorizer's role has no Scan on the connections table.
    const before = stack.emulator.stats.iam.byService.dynamodb;
    const asAuthorizer = documentClientAs(stack, 'authorizer');
    try {
      const refused = await asAuthorizer.send(new ScanCommand({ TableName: stack.tableName })).then(
        () => undefined,
        (error: Error) => error,
      );
      expect(refused?.name).toBe('AccessDeniedException');
      expect(refused?.message).toMatch(
        /^User: arn:aws:sts::000000000000:assumed-role\/.+ is not authorized to perform: dynamodb:Scan on resource: arn:aws:dynamodb:us-east-1:000000000000:table\//,
      );
    } finally {
      asAuthorizer.destroy();
    }
    expect(await within(denialLine, WAIT_MS, 'the denial to be logged')).toMatch(
      /^IAM denied .+ dynamodb:Scan on arn:aws:dynamodb:/,
    );
    // Told before the line, over the same channel: counted by now.
    expect(stack.emulator.stats.iam.byService.dynamodb).toBe(before + 1);
  });

  it.runIf(process.platform === 'linux')(
    "keeps the gate in the stack's process when given IAM options of its own, which a copy would not follow",
    async () => {
      const stack = await start({ iam: { callerFor: () => undefined } });
      expect(stack.dynaliteProcess).toBeDefined();
      expect(listenerPids(Number(new URL(stack.functionsDynamodbEndpoint).port))).toEqual([process.pid]);
    },
  );

  it('takes a dynalite already starting, as npm start hands it over, and stops it when its own start fails', async () => {
    const handed = startDynaliteProcess();
    const stack = await start({ dynalite: handed });
    const own = await handed;
    expect(stack.dynaliteProcess?.pid).toBe(own.pid);
    await stacks.splice(0).pop()?.stop();
    expect(alive(own.pid)).toBe(false);

    const refused = startDynaliteProcess();
    await expect(startTestStack({ dynalite: refused, stage: 'not a stage!' })).rejects.toThrow(/stage name/);
    expect(alive((await refused).pid)).toBe(false);
  });

  it("makes the stack's tables in its own process before its start resolves: created on a fresh store, found on a kept one", async () => {
    const dataDir = tempDir();
    const inputs = tableInputs(stackTables({ [CONNECTIONS_TABLE.id]: 'own-connections' }));
    const names = inputs.map((input) => input.TableName);
    const first = await startDynaliteProcess({ dataDir, tables: inputs });
    try {
      expect(first.tables).toEqual({ created: names, found: [] });
      const client = new DynamoDBClient({ endpoint: first.endpoint, region: 'us-east-1' });
      try {
        for (const input of inputs) {
          const { Table } = await client.send(new DescribeTableCommand({ TableName: input.TableName }));
          expect(Table?.TableStatus).toBe('ACTIVE');
          expect(Table?.KeySchema).toEqual(input.KeySchema);
          expect(Table?.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
          expect(Table?.GlobalSecondaryIndexes?.map((index) => index.IndexName)).toEqual(
            input.GlobalSecondaryIndexes?.map((index) => index.IndexName),
          );
        }
      } finally {
        client.destroy();
      }
    } finally {
      await first.stop();
    }
    const second = await startDynaliteProcess({ dataDir, tables: inputs });
    await second.stop();
    expect(second.tables).toEqual({ created: [], found: names });
  });

  it('hands the stack what it made, and the stack makes only the rest, through the SDK', async () => {
    const [connections, ...rest] = tableInputs(stackTables());
    if (connections === undefined) throw new Error('no tables');
    const handed = startDynaliteProcess({ tables: [connections] });
    const stack = await start({ dynalite: handed });
    expect(stack.dynaliteProcess?.tables).toEqual({ created: [connections.TableName], found: [] });
    const client = new DynamoDBClient({ endpoint: stack.dynamodbEndpoint, region: 'us-east-1' });
    try {
      const { TableNames } = await client.send(new ListTablesCommand({}));
      expect(TableNames).toEqual(Object.values(stack.tableNames).sort());
    } finally {
      client.destroy();
    }
    await stacks.splice(0).pop()?.stop();

    // A table the process says it has is not asked for again: here it says so of one it lacks.
    const claimed = startDynaliteProcess().then((own) => ({
      ...own,
      tables: { created: [], found: [connections.TableName as string] },
    }));
    const trusting = await start({ dynalite: claimed });
    const reader = new DynamoDBClient({ endpoint: trusting.dynamodbEndpoint, region: 'us-east-1' });
    try {
      const { TableNames } = await reader.send(new ListTablesCommand({}));
      expect(TableNames).toEqual(rest.map((input) => input.TableName).sort());
    } finally {
      reader.destroy();
    }
  });

  it("fails to start with DynamoDB's answer when a table cannot be made, and leaves no process behind", async () => {
    const [connections] = tableInputs(stackTables());
    const children = () => readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
    const before = children();
    await expect(startDynaliteProcess({ tables: [{ ...connections, TableName: 'no' }] })).rejects.toThrow(
      /^dynalite could not create the stack's tables: CreateTable no answered 400 ValidationException: /,
    );
    expect(children()).toBe(before);
  });

  it('refuses a kept table that is not the one the stack needs, through either path: says how it differs', async () => {
    const dataDir = tempDir();
    const kept = await startDynaliteProcess({ dataDir });
    const client = new DynamoDBClient({ endpoint: kept.endpoint, region: 'us-east-1' });
    try {
      // A Messages table as an older version might have left it: keyed by a string id alone.
      await client.send(
        new CreateTableCommand({
          TableName: MESSAGES_TABLE.id,
          BillingMode: 'PAY_PER_REQUEST',
          AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
          KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
        }),
      );
      // The SDK's path (DYNAMODB_ENDPOINT, or dynalite in the stack's process).
      await expect(ensureTables(client, stackTables(), silentLogger)).rejects.toThrow(
        "table Messages exists but is not the table this stack needs: its key is id (S) HASH, the stack's is stream (S) HASH, seq (N) RANGE. ",
      );
    } finally {
      client.destroy();
      await kept.stop();
    }
    // dynalite's own process, as npm start --data DIR starts it: no process is left behind.
    const children = () => readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8');
    const before = children();
    await expect(startDynaliteProcess({ dataDir, tables: tableInputs(stackTables()) })).rejects.toThrow(
      "dynalite could not create the stack's tables: table Messages exists but is not the table this stack needs: its key is id (S) HASH",
    );
    expect(children()).toBe(before);
  });

  it('loads no AWS SDK in its process: nothing its modules import at run time is one (type imports aside)', async () => {
    const { build } = await import('esbuild');
    const result = await build({
      entryPoints: [join(ROOT, 'local', 'dynalite-child.ts')],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      packages: 'external',
      metafile: true,
      logLevel: 'silent',
    });
    const imported = Object.values(result.metafile.outputs).flatMap((output) =>
      output.imports.map((entry) => entry.path),
    );
    expect(imported).toContain('node:http');
    expect(imported.filter((path) => /^@(aws-sdk|smithy)\//.test(path))).toEqual([]);
  });

  it('fails to start with why when its store cannot be opened', async () => {
    const file = join(tempDir(), 'a-file');
    writeFileSync(file, 'not a directory');
    await expect(startDynaliteProcess({ dataDir: join(file, 'store') })).rejects.toThrow(
      /^dynalite failed to start: ENOTDIR/,
    );
  });
});
