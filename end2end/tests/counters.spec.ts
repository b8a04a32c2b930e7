import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

// A counter (a family ending in _total, with labels) reaches the page as a series and shows
// as a rate per second; its raw total is one click away.

test('a counter shows as a rate per second, its total one click away', async ({ page, request }) => {
  const dashboard = `counters-${Date.now()}`;
  const key = 'http_requests_total{code="500",method="GET"}';
  const push = (ts: number, total: number) =>
    // Labels in another order: the same series.
    request.post('/api/v1/ingest', {
      data: { dashboard, ts, metrics: { 'http_requests_total{method="GET",code="500"}': total } },
    });
  const start = Date.now() - 10_000;
  expect((await push(start, 1_000)).status()).toBe(202);
  expect((await push(start + 2_000, 1_050)).status()).toBe(202);
  const view = new DashboardPage(page, dashboard);
  await view.goto();
  const card = page.getByTestId(`card-${key}`);
  await expect(card).toHaveAttribute('data-kind', 'counter');
  await expect(view.value(key)).toHaveText('25.00/s');
  await expect(view.badge).toHaveText('live');
  // Live: the next total moves the rate (40 over 4 s).
  expect((await push(start + 6_000, 1_090)).status()).toBe(202);
  await expect(view.value(key)).toHaveText('10.00/s');
  await card.getByTestId('counter-toggle').click();
  await expect(view.value(key)).toHaveText('1,090');
  await expect(card.getByTestId('counter-toggle')).toHaveText('show rate');
  // A new metric adds its card; this one keeps showing its total.
  const other = 'queue_depth';
  expect((await request.post('/api/v1/ingest', { data: { dashboard, ts: start + 8_000, metrics: { [other]: 7 } } })).status()).toBe(202);
  await expect(view.value(other)).toHaveText('7.00');
  await expect(view.value(key)).toHaveText('1,090');
  await expect(card.getByTestId('counter-toggle')).toHaveText('show rate');
});
