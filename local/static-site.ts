/**
 * The demo page: `GET /` serves `local/public/index.html` and `GET /app.js` an esbuild bundle of
 * `local/public/app.ts`, built in memory at startup. Until those files exist, a placeholder page
 * lists the endpoints instead.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Logger } from './logger';

/** Serves `/` and `/app.js`. */
export interface StaticSite {
  /** Answers `pathname` when it is one of the site's files; false otherwise. */
  serve(res: ServerResponse, pathname: string): Promise<boolean>;
}

function send(res: ServerResponse, type: string, body: string | Buffer): void {
  res.writeHead(200, {
    'Content-Type': type,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-cache',
  });
  res.end(body);
}

function placeholder(links: Readonly<Record<string, string>>): string {
  const items = Object.entries(links)
    .map(([name, value]) => `<li>${name}: <code>${value.replace(/</g, '&lt;')}</code></li>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>push — local stack</title></head>
<body>
<h1>push — local stack</h1>
<p>The demo page (<code>local/public/index.html</code> and <code>local/public/app.ts</code>) is not there yet. The stack is running:</p>
<ul>
${items}
</ul>
</body></html>
`;
}

/** Bundles `app.ts` for the browser; a failed build serves a script that reports the error. */
async function bundle(entry: string, logger: Logger): Promise<string> {
  try {
    const { build } = await import('esbuild');
    const out = await build({
      entryPoints: [entry],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      sourcemap: 'inline',
      write: false,
      logLevel: 'silent',
    });
    return out.outputFiles[0]?.text ?? '';
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    logger.error('could not bundle local/public/app.ts', { error: message });
    return `console.error(${JSON.stringify(`local stack: local/public/app.ts failed to build:\n${message}`)});\n`;
  }
}

/**
 * Prepares the site in `publicDir`. Nothing is built at start, which it would slow (esbuild's
 * service process and the build compete with the stack's own start for the CPU): the bundle is
 * built when the page or `/app.js` is first asked for, and `/app.js` waits for it. It is built
 * once (after a change to app.ts, restart `npm start`); `index.html` is read per request, so
 * edits to it show on reload.
 */
export function createStaticSite(
  publicDir: string,
  links: Readonly<Record<string, string>>,
  logger: Logger,
): StaticSite {
  const indexFile = join(publicDir, 'index.html');
  const appFile = join(publicDir, 'app.ts');
  let appJs: Promise<string> | undefined;
  const app = () => {
    if (appJs === undefined && existsSync(appFile)) appJs = bundle(appFile, logger);
    return appJs;
  };
  return {
    async serve(res, pathname) {
      if (pathname === '/' || pathname === '/index.html') {
        // The page asks for /app.js next: its build starts now.
        void app();
        const html = existsSync(indexFile) ? await readFile(indexFile) : placeholder(links);
        send(res, 'text/html; charset=utf-8', html);
        return true;
      }
      const script = pathname === '/app.js' ? app() : undefined;
      if (script !== undefined) {
        send(res, 'text/javascript; charset=utf-8', await script);
        return true;
      }
      return false;
    },
  };
}
