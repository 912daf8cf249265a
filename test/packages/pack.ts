/**
 * Packs the workspace's packages the way a release would (`npm pack`, which builds them through
 * `prepack`) and installs the tarballs into fresh projects in a temporary directory, offline:
 * the packages have no dependencies of their own, and the optional peers a consumer needs (`ws`,
 * the AWS SDK clients, types) are linked from this repository's node_modules, as an app's own
 * installed copies would be.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The repository root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The packages this repository publishes, by folder. */
export const PACKAGES = { client: '@apigw-push/client', server: '@apigw-push/server' } as const;

/** A packed package: its tarball and the paths inside it. */
export interface Packed {
  readonly tarball: string;
  readonly files: readonly string[];
}

/** `npm pack`s `folder` into `dest`, and lists the tarball. */
export async function pack(folder: keyof typeof PACKAGES, dest: string): Promise<Packed> {
  const { stdout } = await run('npm', ['pack', '--pack-destination', dest, '--loglevel', 'error'], {
    cwd: join(ROOT, folder),
  });
  const name = stdout.trim().split('\n').at(-1) ?? '';
  if (!name.endsWith('.tgz')) throw new Error(`npm pack printed no tarball name: ${stdout}`);
  const tarball = join(dest, name);
  const listing = await run('tar', ['-tzf', tarball]);
  return { tarball, files: listing.stdout.trim().split('\n').sort() };
}

/**
 * A fresh project in `dir` (ESM, or CommonJS: a package.json without `"type"`) with the tarballs
 * installed by npm, offline, and `links` (package names) linked from this repository's node_modules.
 * The install is engine-strict: a package whose `engines` leaves out the Node running the tests
 * (each Node CI runs them on) fails it, where npm would only warn EBADENGINE.
 */
export async function installProject(
  dir: string,
  tarballs: readonly string[],
  links: readonly string[],
  type: 'module' | 'commonjs' = 'module',
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const manifest = type === 'module' ? { name: 'app', private: true, type } : { name: 'app', private: true };
  writeFileSync(join(dir, 'package.json'), JSON.stringify(manifest));
  await run(
    'npm',
    [
      'install',
      '--offline',
      '--no-audit',
      '--no-fund',
      '--no-package-lock',
      '--engine-strict',
      '--loglevel',
      'error',
      ...tarballs,
    ],
    { cwd: dir },
  );
  // After the install: npm would prune what it did not put there itself.
  for (const name of links) {
    const target = join(dir, 'node_modules', name);
    mkdirSync(dirname(target), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules', name), target, 'dir');
  }
}

/** Runs `node` with `args` in `cwd`; resolves to stdout, rejects with stderr in the message. */
export async function node(cwd: string, args: readonly string[], timeoutMs = 20_000): Promise<string> {
  try {
    const { stdout } = await run(process.execPath, args, { cwd, timeout: timeoutMs });
    return stdout;
  } catch (error) {
    const e = error as { stderr?: string; stdout?: string; message: string };
    throw new Error(`node ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  }
}
