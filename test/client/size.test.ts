import { describe, expect, it } from 'vitest';
import { CLIENT_BUDGET_BYTES, measureClientSize } from '../../scripts/client-size';

describe('the client bundle', () => {
  it('stays under its min+gzip budget', async () => {
    const { minified, gzipped } = await measureClientSize();
    expect(gzipped).toBeGreaterThan(0);
    expect(gzipped).toBeLessThan(minified);
    expect(gzipped).toBeLessThanOrEqual(CLIENT_BUDGET_BYTES);
  });
});
