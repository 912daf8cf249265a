/**
 * `npm start` as users run it: its own process group, spawned fresh, ready once its banner is on
 * stdout. Scenario s times it against a bare `ws` server started by `npm start` the same way;
 * scenario a pushes through it from this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { descendantProcesses } from './process-cpu';

/** Ends the process group this run started (npm, tsx, node) and nothing else: SIGTERM, SIGKILL after 5 s. */
function endGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = (signal: NodeJS.Signals) => {
      try {
        process.kill(-(child.pid as number), signal);
      } catch {}
    };
    const timer = setTimeout(() => kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    kill('SIGTERM');
  });
}

/**
 * Spawns `npm start --silent` plus `args` in `cwd` as a process group of its own and resolves once
 * `parse` finds what it waits for in its stdout: that, and `bannerMs` from the spawn to it. Fails
 * after 60 s, or when npm exits first.
 */
async function startGroup<T>(cwd: string, args: readonly string[], parse: (out: string) => T | undefined) {
  const t0 = performance.now();
  const child = spawn('npm', ['start', '--silent', ...args], {
    cwd,
    env: { ...process.env, PORT: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const ready = new Promise<{ found: T; bannerMs: number }>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`npm start in ${cwd} ${why}; stderr: ${err.slice(-500)}`));
    const timer = setTimeout(() => fail('printed no banner within 60 s'), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const found = parse(out);
      if (found === undefined) return;
      clearTimeout(timer);
      resolve({ found, bannerMs: performance.now() - t0 });
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(`exited with ${code} before its banner`);
    });
  });
  try {
    return { ...(await ready), pid: child.pid as number, stop: () => endGroup(child) };
  } catch (error) {
    await endGroup(child);
    throw error;
  }
}

/**
 * Spawns `npm start -- --port 0 --quiet` in `root` and resolves once its banner names the URLs:
 * `bannerMs` from the spawn to the banner, `reportedMs` the banner's own figure (process uptime at
 * ready, npm's start-up left out), and `token(uid)` a dev token from `GET /dev/token`.
 */
export async function npmStart(root: string) {
  const { found, bannerMs, pid, stop } = await startGroup(root, ['--', '--port', '0', '--quiet'], (out) => {
    const found = [
      /push local stack ready in (\d+) ms/.exec(out),
      /WebSocket\s+(ws:\/\/\S+)\?token=/.exec(out),
      /Dev token\s+GET (http:\/\/[^/\s]+)/.exec(out),
    ].map((match) => match?.[1] ?? '');
    return found.includes('') ? undefined : found;
  });
  const [reported = '', wsUrl = '', httpUrl = ''] = found;
  return {
    bannerMs,
    reportedMs: Number(reported),
    wsUrl,
    httpUrl,
    /**
     * The pids of the stack's process and of dynalite's (its child), found among the processes this run
     * started; undefined off Linux, or if either is not (or no longer) there.
     */
    processes: (): { stack: number; dynalite: number } | undefined => {
      const dynalite = descendantProcesses(pid).find((p) => p.command.includes('dynalite-child'));
      return dynalite === undefined ? undefined : { stack: dynalite.ppid, dynalite: dynalite.pid };
    },
    token: async (uid: string) => {
      const res = await fetch(`${httpUrl}/dev/token?uid=${encodeURIComponent(uid)}`);
      return ((await res.json()) as { token: string }).token;
    },
    stop,
  };
}

/**
 * The baseline of scenario s: `npm start` of a project whose start script is a bare `ws` server
 * (bare-start.mjs, plain JavaScript as `npm start` runs ours), in a fresh temporary directory
 * removed by `stop`. The same npm, spawned the same way: what any WebSocket server takes from
 * `npm start` to listening on this machine.
 */
export async function bareNpmStart() {
  const dir = mkdtempSync(join(tmpdir(), 'bare-npm-start-'));
  const server = fileURLToPath(new URL('./bare-start.mjs', import.meta.url));
  const manifest = {
    name: 'bare-npm-start',
    private: true,
    scripts: { start: `node ${JSON.stringify(server)}` },
  };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
  try {
    const { found, bannerMs, stop } = await startGroup(
      dir,
      [],
      (out) => /bare ws server on (ws:\/\/\S+)/.exec(out)?.[1],
    );
    return {
      bannerMs,
      wsUrl: found,
      stop: async () => {
        await stop();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}
