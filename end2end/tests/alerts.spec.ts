import { expect, test, type Page } from '@playwright/test';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DashboardPage } from './fixtures/dashboard_page';
import { startServer, stopServer } from './fixtures/livedash_server';

// A server of these tests' own with one rule on an ingested dashboard: cpu critical above 85,
// clearing below 75.
const folder = mkdtempSync(path.join(tmpdir(), 'livedash-alerts-'));
const config = path.join(folder, 'livedash.toml');
writeFileSync(
  config,
  `[[alerts]]
name = "hot_cpu"
dashboard = "alerting"
metric = "cpu"
crit = { above = 85, clear = 75 }
summary = "CPU {{value}}% above {{threshold}}%"
`,
);

let server: { server: ChildProcess; port: number };
test.beforeAll(async () => {
  server = await startServer(['--config', config, '--data', path.join(folder, 'livedash.sqlite'), '--host-metrics', 'false']);
});
test.afterAll(async () => {
  await stopServer(server.server);
  rmSync(folder, { recursive: true, force: true });
});

const base = () => `http://127.0.0.1:${server.port}`;

async function cpu(page: Page, value: number) {
  const response = await page.request.post(`${base()}/api/v1/ingest`, {
    data: { dashboard: 'alerting', metrics: { cpu: value } },
  });
  expect(response.status()).toBe(202);
}

test('a value crossing a threshold: a toast, a tinted card, a badge; a reload does not repeat the toast', async ({ page }) => {
  await cpu(page, 50);
  const dashboard = new DashboardPage(page, 'alerting');
  await dashboard.goto({ base: base() });
  await expect(dashboard.badge).toHaveText('live');
  const card = dashboard.card('cpu');
  await expect(card).not.toHaveAttribute('data-alert-state');

  await cpu(page, 95);
  const toast = page.getByTestId('alert-toast');
  await expect(toast).toHaveCount(1);
  await expect(toast).toContainText('CRITICAL: hot_cpu');
  await expect(toast).toContainText('CPU 95% above 85%');
  await expect(toast).toHaveAttribute('role', 'alert');
  await expect(card).toHaveAttribute('data-alert-state', 'firing');
  await expect(card).toHaveAttribute('data-alert-severity', 'critical');
  await expect(page.getByTestId('alert-badge')).toHaveText('1 firing');
  // Inside the band: nothing new.
  await cpu(page, 80);
  await expect(dashboard.value('cpu')).toHaveText('80.00');
  await expect(toast).toHaveCount(1);

  await page.reload();
  await dashboard.waitForHydration();
  await expect(dashboard.badge).toHaveText('live');
  await expect(card).toHaveAttribute('data-alert-state', 'firing');
  await expect(page.getByTestId('alert-badge')).toHaveText('1 firing');
  await expect(page.getByTestId('alert-toast')).toHaveCount(0);

  await cpu(page, 10);
  await expect(page.getByTestId('alert-toast')).toHaveCount(1);
  await expect(page.getByTestId('alert-toast')).toContainText('Resolved: hot_cpu');
  await expect(page.getByTestId('alert-toast')).toHaveAttribute('role', 'status');
  await expect(card).not.toHaveAttribute('data-alert-state');
  await expect(page.getByTestId('alert-badge')).toHaveCount(0);
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await expect(page.getByTestId('alert-toast')).toHaveCount(0);
});
