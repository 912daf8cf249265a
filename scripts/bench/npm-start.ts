/**
 * `npm start` as users run it: its own process group, spawned fresh, ready once its banner is on
 * stdout. Scenario s times it; scenario a pushes through it from this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';

const BANNER = /push local stack ready in (\d+) ms/;
const WS_URL = /WebSocket\s+(ws:\/\/\S+)\?token=/;
const HTTP_URL = /Dev token\s+GET (http:\/\/[^/\s]+)/;

/** A running `npm start`. */
export interface NpmStart {
  readonly child: ChildProcess;
  /** From the spawn to the banner, ms. */
  readonly bannerMs: number;
  /** The banner's own figure: process uptime at ready (npm's start-up left out). */
  readonly reportedMs: number;
  readonly wsUrl: string;
  readonly httpUrl: string;
  /** A dev token for `uid` from `GET /dev/token`. */
  token(uid: string): Promise<string>;
  /** Ends the process group (SIGTERM, SIGKILL after 5 s) and waits for it. */
  stop(): Promise<void>;
}

function endGroup(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const kill = (signal: NodeJS.Signals) => {
      try {
        // The process group this run started (npm, tsx, node), and nothing else.
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
 * Spawns `npm start -- --port 0 --quiet` in `root` and resolves once its banner names the URLs.
 *
 * @example
 * const stack = await npmStart(root);
 * const ws = new WebSocket(`${stack.wsUrl}?token=${await stack.token('u1')}`);
 * await stack.stop();
 */
export async function npmStart(root: string, env: NodeJS.ProcessEnv = process.env): Promise<NpmStart> {
  const t0 = performance.now();
  const child = spawn('npm', ['start', '--silent', '--', '--port', '0', '--quiet'], {
    cwd: root,
    env: { ...env, PORT: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  try {
    const ready = await new Promise<Omit<NpmStart, 'child' | 'token' | 'stop'>>((resolve, reject) => {
      let out = '';
      let err = '';
      const timer = setTimeout(
        () => reject(new Error(`no banner within 60 s; stderr: ${err.slice(-500)}`)),
        60_000,
      );
      child.stderr?.on('data', (chunk: Buffer) => {
        err += chunk.toString('utf8');
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        const at = performance.now();
        out += chunk.toString('utf8');
        const [banner, ws, http] = [BANNER.exec(out), WS_URL.exec(out), HTTP_URL.exec(out)];
        if (banner === null || ws === null || http === null) return;
        clearTimeout(timer);
        resolve({
          bannerMs: at - t0,
          reportedMs: Number(banner[1]),
          wsUrl: ws[1] as string,
          httpUrl: http[1] as string,
        });
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm start exited with ${code} before its banner; stderr: ${err.slice(-500)}`));
      });
    });
    return {
      child,
      ...ready,
      token: async (uid) => {
        const res = await fetch(`${ready.httpUrl}/dev/token?uid=${encodeURIComponent(uid)}`);
        return ((await res.json()) as { token: string }).token;
      },
      stop: () => endGroup(child),
    };
  } catch (error) {
    await endGroup(child);
    throw error;
  }
}
