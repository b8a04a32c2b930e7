import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

// A dashboard with a day of history, written through ingest with past timestamps.
const dashboardId = `past-${Date.now().toString(36)}`;

test.beforeAll(async ({ request }) => {
  const now = Date.now();
  const items = [];
  for (let minutesAgo = 24 * 60 - 5; minutesAgo > 0; minutesAgo -= 10) {
    items.push({ dashboard: dashboardId, ts: now - minutesAgo * 60_000, metrics: { load: minutesAgo % 70 } });
  }
  items.push({ dashboard: dashboardId, ts: now, metrics: { load: 1 } });
  const response = await request.post('/api/v1/ingest', { data: items });
  expect(response.status()).toBe(202);
});

test('long ranges draw the stored history and keep the live edge moving', async ({ page, request }) => {
  const dashboard = new DashboardPage(page, dashboardId);
  await dashboard.goto();
  const chart = page.getByTestId('chart-load');
  await expect(chart).toHaveAttribute('data-source', 'live');

  const historyAsked = page.waitForRequest((r) => r.url().includes(`/api/v1/dashboards/${dashboardId}/history`));
  const day = page.getByRole('button', { name: '24 h' });
  await day.click();
  await expect(day).toHaveAttribute('aria-pressed', 'true');
  expect((await historyAsked).url()).toContain('step=1m');
  await expect(chart).toHaveAttribute('data-source', 'history');
  await expect(chart).toHaveAttribute('data-range', '24 h');
  // 144 ten-minute points over the day, plus the live one.
  await expect.poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThan(140);
  await expect.poll(() => dashboard.drawnPixels(chart.locator('canvas'))).toBeGreaterThan(500);
  await chart.screenshot({ path: 'test-results/chart-24h.png' });

  // A new point arrives live and is drawn at the right edge.
  const before = Number(await chart.getAttribute('data-points'));
  const response = await request.post('/api/v1/ingest', {
    data: { dashboard: dashboardId, ts: Date.now() + 61_000, metrics: { load: 50 } },
  });
  expect(response.status()).toBe(202);
  await expect.poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThan(before);

  // Thirty days reads hourly buckets; back to 30 s reads the stream's memory again.
  const month = page.getByRole('button', { name: '30 d' });
  const monthAsked = page.waitForRequest((r) => r.url().includes('step=1h'));
  await month.click();
  await monthAsked;
  await expect(chart).toHaveAttribute('data-range', '30 d');
  await expect(chart).toHaveAttribute('data-source', 'history');
  await page.getByRole('button', { name: '30 s' }).click();
  await expect(chart).toHaveAttribute('data-source', 'live');
  await page.screenshot({ path: 'test-results/time-range.png', fullPage: true });
});
