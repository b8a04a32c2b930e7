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
  const shown = () => Promise.all(['activeUsers', 'requestsPerSec'].map((metric) => dashboard.value(metric).textContent()));
  const before = await shown();
  await expect.poll(() => dashboard.seq(), { timeout: 5_000 }).toBeGreaterThan(seqBefore + 1);
  // Over a few seconds the simulator moves at least one of these values on screen.
  await expect
    .poll(async () => (await shown()).some((text, index) => text !== before[index]), { timeout: 10_000 })
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
  // Laid out as host dashboards are: gauges for how full, the load, then the detail over time.
  for (const gauge of ['cpu', 'memory', 'disk']) {
    await expect(page.locator(`[data-panel="${gauge}"]`).getByTestId('gauge-value')).toHaveText(/^\d+(\.\d+)?%$/);
  }
  await expect(page.locator('[data-panel="load1"]').getByTestId('stat-value')).toHaveText(/\d/);
  const network = page.locator('[data-panel="network"]');
  await expect(network.locator('.panel-title')).toHaveText('Network by device');
  await expect.poll(async () => Number(await network.locator('figure').getAttribute('data-series'))).toBeGreaterThan(0);
  await expect.poll(async () => Number(await page.locator('[data-panel="cpu_core"] figure').getAttribute('data-series'))).toBeGreaterThan(0);
});

test('the 5 minute window can be chosen', async ({ page }) => {
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  const fiveMinutes = page.getByRole('button', { name: '5 min' });
  await fiveMinutes.click();
  await expect(fiveMinutes).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByRole('button', { name: '30 s' })).toHaveAttribute('aria-pressed', 'false');
});

/** Makes the page believe its tab was hidden or shown, as the browser would say it. */
async function setTabHidden(page: import('@playwright/test').Page, hidden: boolean) {
  await page.evaluate((hidden) => {
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
    Object.defineProperty(document, 'visibilityState', {
      configurable: true,
      get: () => (hidden ? 'hidden' : 'visible'),
    });
    document.dispatchEvent(new Event('visibilitychange'));
  }, hidden);
}

test('a hidden tab keeps receiving but stops drawing, then draws the latest state once shown', async ({ page }) => {
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  const chart = page.getByTestId('chart-activeUsers');
  const draws = async () => Number(await chart.getAttribute('data-draws'));
  await expect.poll(draws).toBeGreaterThan(1);

  await setTabHidden(page, true);
  const drawsWhenHidden = await draws();
  const seqWhenHidden = await dashboard.seq();
  // Updates keep arriving (the simulator ticks every second)...
  await expect.poll(() => dashboard.seq(), { timeout: 10_000 }).toBeGreaterThan(seqWhenHidden + 2);
  // ...but no chart drew them.
  expect(await draws()).toBe(drawsWhenHidden);

  await setTabHidden(page, false);
  const seqWhenShown = await dashboard.seq();
  await expect.poll(draws).toBeGreaterThan(drawsWhenHidden);
  expect(Number(await chart.getAttribute('data-drawn-seq'))).toBeGreaterThanOrEqual(seqWhenShown);
});

test('pointing at a chart reads out the time and value there', async ({ page }) => {
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  const chart = page.getByTestId('chart-activeUsers');
  const canvas = chart.locator('canvas');
  await expect.poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThan(2);
  const box = (await canvas.boundingBox())!;
  // Near the right edge, where the newest points are.
  await page.mouse.move(box.x + box.width - 20, box.y + box.height / 2);
  const readout = chart.getByTestId('chart-readout');
  await expect(readout).toBeVisible();
  await expect(readout).toHaveText(/^\d{2}:\d{2}:\d{2} · [\d,]+$/);
  await chart.screenshot({ path: 'test-results/chart-readout.png' });
  await page.mouse.move(box.x + box.width / 2, box.y - 40);
  await expect(readout).toBeHidden();
});

test('between updates the live edge scrolls with time, in small steps and never back', async ({ page }) => {
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  const chart = page.getByTestId('chart-activeUsers');
  await expect.poll(async () => Number(await chart.getAttribute('data-draws'))).toBeGreaterThan(1);
  const edges: number[] = [];
  const seqs = new Set<number>();
  const started = Date.now();
  while (Date.now() - started < 1_500) {
    const edge = Number(await chart.getAttribute('data-edge'));
    if (edges.at(-1) !== edge) edges.push(edge);
    seqs.add(await dashboard.seq());
    await page.waitForTimeout(30);
  }
  // The simulator updates once a second: two or three updates, many more edge positions.
  expect(seqs.size).toBeLessThanOrEqual(3);
  expect(edges.length).toBeGreaterThan(2 * seqs.size + 4);
  expect(edges).toEqual([...edges].sort((a, b) => a - b));
  // Each step is small: a 30 s chart moves in 50 ms columns, not in one-second jumps.
  const steps = edges.slice(1).map((edge, i) => edge - edges[i]);
  expect(steps.filter((step) => step >= 1_000)).toEqual([]);
});
