import { expect, test } from '@playwright/test';

// A family with several series is one chart with a line per series and a legend naming the
// labels that differ, with last/min/max; click shows one series alone, shift-click hides one.
// A counter family's chart draws rates; over long ranges every series comes from the history tiers.

test('a family is one chart with a legend; click isolates, shift-click hides', async ({ page, request }) => {
  const dashboard = `families-${Date.now()}`;
  const start = Date.now() - 20_000;
  for (let i = 0; i < 5; i++) {
    const metrics: Record<string, number> = {};
    for (const code of ['200', '404', '500']) {
      // A counter: each code's total grows by its own step per second.
      metrics[`http_requests_total{code="${code}",job="api"}`] = 1_000 + i * Number(code);
    }
    metrics[`temperature{room="lab"}`] = 20 + i;
    const answer = await request.post('/api/v1/ingest', { data: { dashboard, ts: start + i * 1_000, metrics } });
    expect(answer.status()).toBe(202);
  }
  await page.goto(`/d/${dashboard}`);
  const chart = page.getByTestId('chart-http_requests_total');
  await expect(chart).toHaveAttribute('data-series', '3');
  await expect(chart).toHaveAttribute('data-series-kind', 'counter');
  const panel = page.locator('[data-panel="http_requests_total"]');
  await expect(panel).toHaveAttribute('data-kind', 'line');
  await expect(panel.locator('.panel-title')).toHaveText('http_requests_total (/s)');
  const legend = chart.getByTestId('chart-legend');
  // Only the label that differs names a series (job is the same for all).
  await expect(legend.locator('.legend-name')).toHaveText(['code=200', 'code=404', 'code=500']);
  // Rates: 404 more per second for code 404.
  const notFound = legend.locator('[data-series="http_requests_total{code=\\"404\\",job=\\"api\\"}"]');
  await expect(notFound.locator('.legend-values')).toHaveText('last 404.0/s · min 404.0/s · max 404.0/s');
  await expect(chart).toHaveAttribute('data-drawn', '3');
  await expect.poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThan(6);

  await notFound.click();
  await expect(notFound).toHaveAttribute('data-isolated', 'true');
  await expect(chart).toHaveAttribute('data-drawn', '1');
  await expect(legend.locator('[data-hidden="true"]')).toHaveCount(2);
  await notFound.click();
  await expect(chart).toHaveAttribute('data-drawn', '3');

  await notFound.click({ modifiers: ['Shift'] });
  await expect(notFound).toHaveAttribute('data-hidden', 'true');
  await expect(chart).toHaveAttribute('data-drawn', '2');

  // A lone labelled series keeps a chart of its own, without a legend.
  const lone = page.getByTestId('chart-temperature{room="lab"}');
  await expect(lone).toHaveAttribute('data-series', '1');
  await expect(lone.getByTestId('chart-legend')).toHaveCount(0);
});

test('a family over a long range draws every series from the history tiers, a counter as rates', async ({ page, request }) => {
  const dashboard = `family-history-${Date.now()}`;
  const now = Date.now();
  // Six hours of two counters, a point every ten minutes: queue a grows 1/s, queue b 2/s.
  const items = [];
  for (let i = 0; i < 36; i++) {
    const ts = now - (36 - i) * 600_000;
    items.push({ dashboard, ts, metrics: { 'jobs_total{queue="a"}': i * 600, 'jobs_total{queue="b"}': i * 1_200 } });
  }
  expect((await request.post('/api/v1/ingest', { data: items })).status()).toBe(202);
  const history = await request.get(
    `/api/v1/dashboards/${dashboard}/history?metric=${encodeURIComponent('jobs_total{queue="b"}')}&step=1m&from=${now - 7 * 3_600_000}&to=${now}`,
  );
  const buckets = (await history.json()).buckets;
  expect(buckets.length).toBe(36);
  expect(buckets[10].rate).toBe(2);

  await page.goto(`/d/${dashboard}`);
  const chart = page.getByTestId('chart-jobs_total');
  await expect(chart).toHaveAttribute('data-series', '2');
  const asked = page.waitForRequest((r) => r.url().includes(`/api/v1/dashboards/${dashboard}/history`));
  await page.getByRole('button', { name: '24 h' }).click();
  await asked;
  await expect(chart).toHaveAttribute('data-source', 'history');
  // Each series' buckets as rates, each at its bucket's middle (the newest may fall past the
  // live edge, which is the dashboard's last update).
  await expect.poll(async () => Number(await chart.getAttribute('data-points'))).toBeGreaterThanOrEqual(2 * 35);
  await expect(chart).toHaveAttribute('data-drawn', '2');
});
