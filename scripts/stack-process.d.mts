import type { ChildProcess } from 'node:child_process';

/** Types of scripts/stack-process.mjs, which is plain JavaScript (it runs before any build). */

/** glibc malloc settings `npm start` gives the stack's process. */
export declare const STACK_MALLOC_ENV: Readonly<{ MALLOC_MMAP_THRESHOLD_: string; MALLOC_ARENA_MAX: string }>;

/** V8 flags `npm start` gives the stack's process. */
export declare const STACK_V8_FLAGS: readonly string[];

/** {@link STACK_V8_FLAGS} less those `given` (NODE_OPTIONS and node's flags, as text) already sets. */
export declare function stackV8Flags(given: string): string[];

/** Set in the stack's process by the supervising `npm start`, to the epoch ms it began at. */
export declare const SUPERVISED_ENV: string;

/** Calls `onGone` once this process's parent has gone (checked every `intervalMs`, 500 by default). */
export declare function onParentGone(onGone: () => void, intervalMs?: number): void;

/**
 * Runs `script` again in a child started as the stack's process, and supervises it: signals passed
 * on once, stopped when this process's parent goes, this process exiting with its exit code.
 */
export declare function superviseAsStackProcess(
  script: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  name: string,
): ChildProcess;
