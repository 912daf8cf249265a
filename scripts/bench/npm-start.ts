/**
 * `npm start` as users run it: its own process group, spawned fresh, ready once its banner is on
 * stdout. Scenario s times it; scenario a pushes through it from this process.
 */
import { type ChildProcess, spawn } from 'node:child_process';

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
 * Spawns `npm start -- --port 0 --quiet` in `root` and resolves once its banner names the URLs:
 * `bannerMs` from the spawn to the banner, `reportedMs` the banner's own figure (process uptime at
 * ready, npm's start-up left out), and `token(uid)` a dev token from `GET /dev/token`.
 */
export async function npmStart(root: string) {
  const t0 = performance.now();
  const child = spawn('npm', ['start', '--silent', '--', '--port', '0', '--quiet'], {
    cwd: root,
    env: { ...process.env, PORT: '0' },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let bannerMs = 0;
  child.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString('utf8');
  });
  const banner = new Promise<string[]>((resolve, reject) => {
    const fail = (why: string) => reject(new Error(`npm start ${why}; stderr: ${err.slice(-500)}`));
    const timer = setTimeout(() => fail('printed no banner within 60 s'), 60_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      const found = [
        /push local stack ready in (\d+) ms/.exec(out),
        /WebSocket\s+(ws:\/\/\S+)\?token=/.exec(out),
        /Dev token\s+GET (http:\/\/[^/\s]+)/.exec(out),
      ].map((match) => match?.[1] ?? '');
      if (found.includes('')) return;
      bannerMs = performance.now() - t0;
      clearTimeout(timer);
      resolve(found);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(`exited with ${code} before its banner`);
    });
  });
  try {
    const [reported, wsUrl, httpUrl] = (await banner) as [string, string, string];
    return {
      bannerMs,
      reportedMs: Number(reported),
      wsUrl,
      httpUrl,
      token: async (uid: string) => {
        const res = await fetch(`${httpUrl}/dev/token?uid=${encodeURIComponent(uid)}`);
        return ((await res.json()) as { token: string }).token;
      },
      stop: () => endGroup(child),
    };
  } catch (error) {
    await endGroup(child);
    throw error;
  }
}
