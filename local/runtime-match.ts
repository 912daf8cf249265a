/**
 * Whether the Node running the local stack is the one the template deploys the functions on. The
 * handlers run here on this process's Node (or its children's, the same binary), so a difference
 * between two majors, in a built-in, a default or a deprecation, could pass here and fail in AWS.
 * The stack still starts: it says so once, in the banner.
 */

/** The Node major of a Lambda runtime identifier (`nodejs24.x` → 24), or undefined for another language. */
export function runtimeNodeMajor(runtime: string): number | undefined {
  const match = /^nodejs(\d+)\.x$/.exec(runtime);
  return match === null ? undefined : Number(match[1]);
}

/**
 * The banner's words on the functions' runtime: the template's runtimes, and, when this Node's major
 * is not theirs, which Node to start the stack with instead.
 *
 * @example
 * runtimeNote(['nodejs24.x'], 'v24.21.0') // 'runtime nodejs24.x'
 * runtimeNote(['nodejs24.x'], 'v20.20.2') // 'runtime nodejs24.x, but this is Node v20.20.2: start the stack on Node 24 to run them as deployed'
 */
export function runtimeNote(runtimes: readonly string[], nodeVersion: string): string {
  const distinct = [...new Set(runtimes)].sort();
  const here = Number(/^v(\d+)\./.exec(nodeVersion)?.[1]);
  const majors = [...new Set(distinct.map(runtimeNodeMajor))];
  const named = `runtime ${distinct.join(', ')}`;
  if (majors.length === 1 && majors[0] === here) return named;
  const wanted = majors.filter((major): major is number => major !== undefined);
  const advice =
    wanted.length === 1
      ? `start the stack on Node ${wanted[0]} to run them as deployed`
      : 'they differ from it';
  return `${named}, but this is Node ${nodeVersion}: ${advice}`;
}
