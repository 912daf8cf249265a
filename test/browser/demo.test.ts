import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

/**
 * The demo page in a real browser against the local stack: several tabs of one merchant, and a
 * customer placing an order from another tab. Everything waits on the page's own state
 * (`data-testid` / `data-status`), never on the clock.
 */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];
const SCREENSHOT = 'test-artifacts/demo.png';

let stack: { httpUrl: string; stop(): Promise<void> };
let browser: Browser;
let context: BrowserContext;
/** Debian's package; playwright-core never downloads a browser of its own. */
const CHROMIUM = '/usr/bin/chromium';

/** Uncaught errors and console errors from every page; any one fails the test. */
let pageErrors: string[];

beforeAll(async () => {
  const { startLocalStack } = await import('../../local/stack');
  stack = await startLocalStack({ port: 0 });
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser test drives Debian's Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  }
  browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
});

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

beforeEach(async () => {
  pageErrors = [];
  context = await browser.newContext({ viewport: { width: 1280, height: 760 } });
});

afterEach(async () => {
  await context.close();
});

async function openDemo(query: string): Promise<Page> {
  const page = await context.newPage();
  page.on('pageerror', (error) => pageErrors.push(`${page.url()}: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`${page.url()}: ${message.text()}`);
  });
  await page.goto(`${stack.httpUrl}/${query}`);
  return page;
}

async function openMerchant(uid: string): Promise<Page> {
  const page = await openDemo(`?uid=${uid}`);
  await page.locator('[data-testid="connection-status"][data-status="open"]').waitFor();
  return page;
}

describe('the demo page', () => {
  it('alerts every open tab of the merchant when a customer places an order, and no other merchant', async () => {
    const tabs = [await openMerchant('merchant-1'), await openMerchant('merchant-1')];
    const otherMerchant = await openMerchant('merchant-2');
    for (const tab of tabs) {
      expect(await tab.getByTestId('connection-status').textContent()).toBe('Live');
      expect(await tab.getByTestId('merchant-uid').textContent()).toBe('merchant-1');
      expect(await tab.getByTestId('orders-empty').isVisible()).toBe(true);
    }

    const customer = await openDemo('?view=customer&uid=merchant-1');
    expect(await customer.getByTestId('order-list').isVisible()).toBe(false);
    await customer.getByTestId('customer-name').fill('Dana Whitfield');
    await customer.getByTestId('order-item').selectOption({ label: 'Ramen bowl · €13.90' });
    await customer.getByTestId('order-quantity').fill('2');
    await customer.getByTestId('place-order').click();
    const result = customer.locator('[data-testid="publish-result"][data-outcome="ok"]');
    await result.waitFor();
    const resultText = (await result.textContent()) ?? '';
    expect(resultText).toMatch(/^Order #\d{4} placed · alerted 2 open screens\.$/);
    const orderNumber = resultText.match(/#(\d{4})/)?.[1];

    for (const tab of tabs) {
      const order = tab.locator(`[data-testid="order"][data-order-number="${orderNumber}"]`);
      await order.waitFor();
      expect(await order.locator('.order-customer').textContent()).toBe('Dana Whitfield');
      expect(await order.locator('.order-items').textContent()).toBe('2 × Ramen bowl');
      expect(await order.locator('.order-total').textContent()).toBe('€27.80');
      expect(await tab.getByTestId('new-orders-badge').textContent()).toBe('1');
      expect(await tab.getByTestId('stat-count').textContent()).toBe('1');
      expect(await tab.getByTestId('stat-revenue').textContent()).toBe('€27.80');
      expect(await tab.getByTestId('orders-empty').isVisible()).toBe(false);
      expect(await tab.getByTestId('toast').textContent()).toContain(`New order #${orderNumber}`);
      expect(await tab.title()).toBe('(1) Orders · Harbor Kitchen');
    }
    // Delivery to both merchant-1 tabs is done; merchant-2 was never a target.
    expect(await otherMerchant.getByTestId('order').count()).toBe(0);

    await mkdir('test-artifacts', { recursive: true });
    await tabs[0]?.screenshot({ path: SCREENSHOT, animations: 'disabled' });
    expect(pageErrors).toEqual([]);
  });

  it('shows an order placed while the merchant was offline as soon as the page opens', async () => {
    const customer = await openDemo('?view=customer&uid=merchant-4');
    await customer.getByTestId('customer-name').fill('Sam Okafor');
    await customer.getByTestId('place-order').click();
    const result = customer.locator('[data-testid="publish-result"][data-outcome="ok"]');
    await result.waitFor();
    expect(await result.textContent()).toMatch(
      /^Order #\d{4} placed\. The merchant is offline and will see it when they are back\.$/,
    );

    const tab = await openMerchant('merchant-4');
    const order = tab.locator('[data-testid="order"]');
    await order.waitFor();
    expect(await order.locator('.order-customer').textContent()).toBe('Sam Okafor');
    expect(await tab.getByTestId('new-orders-badge').textContent()).toBe('1');
    expect(await tab.getByTestId('gap-banner').isVisible()).toBe(false);
    expect(pageErrors).toEqual([]);
  });

  it('clears the badge and the new markers when the merchant marks orders as seen', async () => {
    const tab = await openMerchant('merchant-3');
    const customer = await openDemo('?view=customer&uid=merchant-3');
    await customer.getByTestId('place-order').click();
    await customer.locator('[data-testid="publish-result"][data-outcome="ok"]').waitFor();
    await tab.locator('[data-testid="order"][data-new="true"]').waitFor();
    await tab.getByTestId('mark-seen').click();
    expect(await tab.getByTestId('new-orders-badge').isVisible()).toBe(false);
    expect(await tab.locator('[data-testid="order"][data-new="true"]').count()).toBe(0);
    expect(await tab.title()).toBe('Orders · Harbor Kitchen');
    expect(pageErrors).toEqual([]);
  });
});
