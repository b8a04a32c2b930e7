import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

test('/ lists both dashboards and navigation reaches each', async ({ page }) => {
  await page.goto('/');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const list = page.getByTestId('dashboard-list');
  await expect(list.getByRole('link', { name: /Shop \(demo\)/ })).toBeVisible();
  await expect(list.getByRole('link', { name: /Host/ })).toBeVisible();

  await list.getByRole('link', { name: /Shop \(demo\)/ }).click();
  await expect(page).toHaveURL(/\/d\/main$/);
  const main = new DashboardPage(page, 'main');
  await expect(main.root).toHaveAttribute('data-dashboard', 'main');
  await expect(main.badge).toHaveText('live');
  await page.screenshot({ path: 'test-results/dashboard-main.png', fullPage: true });

  await page.getByRole('link', { name: 'livedash' }).click();
  await list.getByRole('link', { name: /Host/ }).click();
  await expect(page).toHaveURL(/\/d\/host$/);
  const host = new DashboardPage(page, 'host');
  await expect(host.root).toHaveAttribute('data-dashboard', 'host');
  await expect(host.card('cpu')).toBeVisible();
  await expect(host.badge).toHaveText('live');
  await page.screenshot({ path: 'test-results/dashboard-host.png', fullPage: true });
});

test('an ingested dashboard appears and goes live', async ({ page, request }) => {
  const dashboard = `e2e-${Date.now()}`;
  const push = (value: number) =>
    request.post('/api/v1/ingest', { data: { dashboard, metrics: { queueDepth: value } } });
  expect((await push(5)).status()).toBe(202);
  const view = new DashboardPage(page, dashboard);
  await view.goto();
  await expect(view.value('queueDepth')).toHaveText('5.00');
  await expect(view.badge).toHaveText('live');
  expect((await push(42)).status()).toBe(202);
  await expect(view.value('queueDepth')).toHaveText('42.00');
});
