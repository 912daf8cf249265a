/**
 * How `npm start` runs the stack's process (scripts/start.mjs), in one place so that whatever
 * measures that process (the bench) can start it the same way. Plain JavaScript: it runs before
 * anything is compiled.
 */

import { spawn } from 'node:child_process';
import { constants } from 'node:os';

/**
 * glibc malloc settings for the stack's process. Node reads each socket into a fresh 64 KiB
 * buffer and shrinks it to what arrived; the stack's own loopback HTTP (the functions' DynamoDB
 * and `@connections` calls) makes many such reads per handshake, and glibc, whose threshold for
 * serving a block from its own mmap grows past 64 KiB once a larger block is freed, then cuts
 * them from its heaps, where the shrunk remainders leave holes that hold pages: the process kept
 * about 12 KiB of RSS per open socket where it used 4.7. A fixed 64 KiB threshold serves those
 * buffers from mmap and hands them back whole; two arenas instead of eight per core keep V8's
 * and libuv's threads from spreading the same holes over more heaps. Only read when a process
 * starts, hence a child process. Ignored by other C libraries (macOS, musl), so set anywhere.
 * A variable already in the environment wins.
 */
export const STACK_MALLOC_ENV = Object.freeze({
  MALLOC_MMAP_THRESHOLD_: '65536',
  MALLOC_ARENA_MAX: '2',
});

/**
 * V8 flags for the stack's process: semi-spaces of up to 128 MB, eight times Node's default. Every
 * function's environments run in this one heap, and the garbage of their invocations is made in
 * between the long-lived state of the connections they serve. With small semi-spaces, what a
 * handshake still holds at its second scavenge is promoted, then dies in the old space, and leaves
 * it full of holes that a full collection compacts only in part: in bench row f, with 10,000
 * sockets, the heap held 2.7 to 8 KiB per socket committed beyond what it used, and the process 8.1
 * to 13.2 KiB of RSS per socket. With 128 MB, over six runs, 0.1 to 2.5 KiB and 5.9 to 7.8 KiB, and
 * the whole process's RSS no higher (167 to 183 MB against 183 to 219). Lambda's Node.js runtime
 * gives each environment a twentieth of its memory (12.8 MB at 256 MB); this process hosts the
 * environments of every function at once. Left out when `NODE_OPTIONS` or node's own flags already
 * set it.
 */
export const STACK_V8_FLAGS = Object.freeze(['--max-semi-space-size=128']);

/**
 * {@link STACK_V8_FLAGS} less any the user already set, in `given` (`NODE_OPTIONS` and node's own
 * flags, as text); V8 reads `_` and `-` in a flag's name alike.
 */
export function stackV8Flags(given) {
  const set = given.replaceAll('_', '-');
  return STACK_V8_FLAGS.filter((flag) => !set.includes(flag.split('=')[0]));
}

/**
 * Set in the stack's process by the `npm start` that supervises it, to the epoch ms at which that
 * `npm start` began, so the banner's `ready in N ms` still counts from it.
 */
export const SUPERVISED_ENV = 'PUSH_STACK_SUPERVISED';

/**
 * Calls `onGone` once this process's parent has gone. `npm start` runs its script through a shell,
 * and a SIGTERM sent to npm alone (`kill <pid of npm>`, a process manager stopping it) ends that
 * shell without passing the signal on: this process is then handed to another parent and would
 * keep the stack serving, unseen. Checked every `intervalMs` without keeping the process alive.
 */
export function onParentGone(onGone, intervalMs = 500) {
  const parent = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid === parent) return;
    clearInterval(timer);
    onGone();
  }, intervalMs);
  timer.unref();
}

/**
 * Runs `script` with `args` again, in a child of this process started as the stack's process is
 * (the malloc settings and V8 flags above, the same loader flags as this process), and makes this
 * process its supervisor: each signal this process gets is passed on once, its parent going away
 * stops the child as a SIGTERM would, and this process exits with the child's exit code. The child
 * has a process group of its own, so a signal sent to this one's group (Ctrl-C in a terminal)
 * reaches it once, through here; its IPC channel to this process tells it when this process is
 * gone, even when killed outright. `env` is added to the child's environment; `name` says what
 * failed to start.
 *
 * @example
 * if (process.env.MY_MARKER === undefined) superviseAsStackProcess(fileURLToPath(import.meta.url), process.argv.slice(2), { MY_MARKER: '1' }, 'npm start');
 */
export function superviseAsStackProcess(script, args, env, name) {
  const child = spawn(
    process.execPath,
    [
      ...stackV8Flags([process.env.NODE_OPTIONS ?? '', ...process.execArgv].join(' ')),
      ...process.execArgv,
      script,
      ...args,
    ],
    {
      env: { ...STACK_MALLOC_ENV, ...process.env, ...env },
      stdio: ['inherit', 'inherit', 'inherit', 'ipc'],
      detached: true,
    },
  );
  const passOn = (signal) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(signal);
  };
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(signal, () => passOn(signal));
  // npm's shell ended without passing a signal on: stop the child as a SIGTERM would.
  onParentGone(() => passOn('SIGTERM'));
  child.once('error', (error) => {
    process.stderr.write(`${name} could not start: ${error.message}\n`);
    process.exit(1);
  });
  child.once('exit', (code, signal) => {
    process.exit(code ?? 128 + (signal === null ? 0 : constants.signals[signal]));
  });
  return child;
}
