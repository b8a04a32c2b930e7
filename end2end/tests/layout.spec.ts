import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

// The dashboard reads on a phone as on a laptop, and its charts follow the size they are given.

test('on a phone the dashboard fits the screen: no sideways scrolling, two cards and one chart per row', async ({ browser }) => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
  const page = await context.newPage();
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  expect(overflow).toBeLessThanOrEqual(0);
  const lefts = async (locator: typeof dashboard.charts) =>
    new Set((await Promise.all((await locator.all()).map((element) => element.boundingBox()))).map((box) => Math.round(box!.x)));
  expect((await lefts(dashboard.charts)).size, 'charts stack in one column').toBe(1);
  expect((await lefts(dashboard.cards)).size, 'cards two a row, to see the numbers together').toBe(2);
  for (const canvas of await dashboard.charts.all()) {
    await expect.poll(() => dashboard.drawnPixels(canvas)).toBeGreaterThan(500);
    const { backing, css } = await canvas.evaluate((element: HTMLCanvasElement) => ({ backing: element.width, css: element.clientWidth }));
    expect(backing).toBe(css * 3);
  }
  await expect(dashboard.card('activeUsers').getByTestId('sparkline').locator('polyline')).toHaveAttribute('points', /\d/);
  await page.screenshot({ path: 'test-results/dashboard-phone.png', fullPage: true });
  await context.close();
});

test('resizing the window redraws the charts at their new size', async ({ page }) => {
  await page.setViewportSize({ width: 1280, height: 900 });
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  const canvas = dashboard.charts.first();
  const backingWidth = () => canvas.evaluate((element: HTMLCanvasElement) => element.width);
  const cssWidth = () => canvas.evaluate((element: HTMLCanvasElement) => element.clientWidth);
  await expect.poll(backingWidth).toBe(await cssWidth());
  const wide = await backingWidth();

  await page.setViewportSize({ width: 700, height: 900 });
  await expect.poll(cssWidth).not.toBe(wide);
  await expect.poll(async () => (await backingWidth()) === (await cssWidth())).toBe(true);
  await expect.poll(() => dashboard.drawnPixels(canvas)).toBeGreaterThan(500);
});
