/**
 * How `npm start` runs the stack's process (scripts/start.mjs), in one place so that whatever
 * measures that process (the bench) can start it the same way. Plain JavaScript: it runs before
 * anything is compiled.
 */

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
 * Set in the stack's process by the `npm start` that supervises it, to the epoch ms at which that
 * `npm start` began, so the banner's `ready in N ms` still counts from it.
 */
export const SUPERVISED_ENV = 'PUSH_STACK_SUPERVISED';
