/**
 * The hostile neighbour at its full figure, 1,000 publishes (`npm test` runs it at 100 beside
 * other files): `npm run test:hostile`, a step of its own in `.ci/run`. The figure is set here
 * rather than on the command line, so the script runs the same in every shell.
 */
import { defineConfig } from 'vitest/config';
import base from '../../vitest.config';

export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/local/hostile-neighbour.test.ts'],
    env: { ...base.test?.env, HOSTILE_PUBLISHES: process.env.HOSTILE_PUBLISHES ?? '1000' },
  },
});
