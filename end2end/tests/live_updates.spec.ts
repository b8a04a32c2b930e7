import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

test('after hydration the values change live and the badge says live', async ({ page }) => {
  const errors: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(message.text());
  });
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  await expect(dashboard.badge).toHaveAttribute('data-state', 'live');

  const seqBefore = await dashboard.seq();
  const usersBefore = await dashboard.value('activeUsers').textContent();
  await expect.poll(() => dashboard.seq(), { timeout: 5_000 }).toBeGreaterThan(seqBefore + 1);
  // Over a few seconds the simulator moves at least one value on screen.
  await expect
    .poll(
      async () =>
        (await dashboard.value('activeUsers').textContent()) !== usersBefore ||
        (await dashboard.value('requestsPerSec').textContent()) !== usersBefore,
      { timeout: 10_000 },
    )
    .toBe(true);
  expect(errors).toEqual([]);
});

test('every chart canvas has drawn pixels, crisp for the device pixel ratio', async ({ browser }) => {
  const context = await browser.newContext({ deviceScaleFactor: 2 });
  const page = await context.newPage();
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  await expect(dashboard.charts).toHaveCount(5);
  for (const canvas of await dashboard.charts.all()) {
    await expect.poll(() => dashboard.drawnPixels(canvas)).toBeGreaterThan(500);
    const { backing, css } = await canvas.evaluate((element: HTMLCanvasElement) => ({
      backing: element.width,
      css: element.clientWidth,
    }));
    expect(backing).toBe(css * 2);
  }
  await context.close();
});

test('the host dashboard shows real machine metrics', async ({ page }) => {
  const dashboard = new DashboardPage(page, 'host');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  for (const metric of ['cpu', 'memory', 'load1', 'disk']) {
    await expect(dashboard.value(metric)).toHaveText(/\d/);
  }
  await expect(dashboard.value('memory')).toHaveText(/%$/);
  await expect(dashboard.value('netRx')).toHaveText(/B\/s$/);
});

test('the 5 minute window can be chosen', async ({ page }) => {
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  const fiveMinutes = page.getByRole('button', { name: '5 min' });
  await fiveMinutes.click();
  await expect(fiveMinutes).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByRole('button', { name: '30 s' })).toHaveAttribute('aria-pressed', 'false');
});
