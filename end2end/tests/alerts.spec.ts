import { expect, test, type Page } from '@playwright/test';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AlertsPanel } from './fixtures/alerts_panel';
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
  const alerts = new AlertsPanel(page);
  const toast = alerts.toasts;
  await expect(toast).toHaveCount(1);
  await expect(toast).toContainText('CRITICAL: hot_cpu');
  await expect(toast).toContainText('CPU 95% above 85%');
  await expect(toast).toHaveAttribute('role', 'alert');
  await expect(card).toHaveAttribute('data-alert-state', 'firing');
  await expect(card).toHaveAttribute('data-alert-severity', 'critical');
  await expect(alerts.badge).toHaveText('1 firing');
  // The chart draws the threshold (and its clear band) and shades where the rule fires.
  const chart = alerts.chart('cpu');
  await expect(chart).toHaveAttribute('data-thresholds', '1');
  await expect(chart).toHaveAttribute('data-firing-spans', '1');
  // Inside the band: nothing new.
  await cpu(page, 80);
  await expect(dashboard.value('cpu')).toHaveText('80.00');
  await expect(toast).toHaveCount(1);

  await page.reload();
  await dashboard.waitForHydration();
  await expect(dashboard.badge).toHaveText('live');
  await expect(card).toHaveAttribute('data-alert-state', 'firing');
  await expect(alerts.badge).toHaveText('1 firing');
  await expect(toast).toHaveCount(0);
  // The span is still drawn after the reload: from the alert history.
  await expect(chart).toHaveAttribute('data-firing-spans', '1');

  await cpu(page, 10);
  await expect(toast).toHaveCount(1);
  await expect(toast).toContainText('Resolved: hot_cpu');
  await expect(toast).toHaveAttribute('role', 'status');
  await expect(card).not.toHaveAttribute('data-alert-state');
  await expect(alerts.badge).toHaveCount(0);
  await alerts.dismiss.click();
  await expect(toast).toHaveCount(0);
});

test('the badge opens the list of active alerts: ack and silence from it', async ({ page }) => {
  await cpu(page, 50);
  const dashboard = new DashboardPage(page, 'alerting');
  await dashboard.goto({ base: base() });
  await expect(dashboard.badge).toHaveText('live');
  await cpu(page, 96);
  const alerts = new AlertsPanel(page);
  const badge = alerts.badge;
  await expect(badge).toHaveText('1 firing');
  await badge.click();
  const row = alerts.rows;
  await expect(row).toHaveCount(1);
  await expect(row).toHaveAttribute('data-rule', 'hot_cpu');
  await expect(row).toHaveAttribute('data-severity', 'critical');
  await expect(row).toContainText('CPU 96% above 85%');

  await alerts.ack(row).click();
  await expect(row).toHaveAttribute('data-acked', 'true');
  await expect(alerts.note(row)).toHaveText('acked by anonymous');
  await expect(alerts.ack(row)).toBeDisabled();

  await alerts.silence(row).click();
  await expect(row).toHaveAttribute('data-silenced', 'true');
  const silences = await (await page.request.get(`${base()}/api/v1/alerts/silences`)).json();
  expect(silences).toHaveLength(1);
  expect(silences[0].matchers).toEqual([
    { name: 'alertname', value: 'hot_cpu', isRegex: false, isEqual: true },
    { name: 'dashboard', value: 'alerting', isRegex: false, isEqual: true },
  ]);
  // An hour from the browser's clock, started by the server's: the same machine here.
  expect(Math.abs(silences[0].endsAt - silences[0].startsAt - 3_600_000)).toBeLessThan(5_000);

  // Leave things as they were: resolved, the silence ended.
  await cpu(page, 10);
  await expect(badge).toHaveText('0 active');
  const expired = await page.request.delete(`${base()}/api/v1/alerts/silences/${silences[0].id}`);
  expect(expired.status()).toBe(200);
});

test('a rule preview: typed thresholds show where it would have fired, drawn on the chart, with its TOML', async ({ page }) => {
  for (const value of [40, 97, 30]) await cpu(page, value);
  const dashboard = new DashboardPage(page, 'alerting');
  await dashboard.goto({ base: base() });
  await expect(dashboard.badge).toHaveText('live');
  const alerts = new AlertsPanel(page);
  const chart = alerts.chart('cpu');
  await expect(chart).toHaveAttribute('data-thresholds', '1');
  const preview = alerts.preview('cpu');
  await preview.open();
  await preview.warn.fill('60');
  await preview.crit.fill('90');
  await preview.critClear.fill('80');
  await expect(preview.summary).toContainText(/would have fired [1-9]\d* times and sent [1-9]\d* notifications/);
  await expect(chart).toHaveAttribute('data-thresholds', '2');
  const toml = preview.toml;
  await expect(toml).toContainText('metric = "cpu"');
  await expect(toml).toContainText('dashboard = "alerting"');
  await expect(toml).toContainText('warn = { above = 60 }');
  await expect(toml).toContainText('crit = { above = 90, clear = 80 }');
  // A clear on the wrong side is refused in words, and nothing is drawn for it.
  await preview.critClear.fill('95');
  await expect(preview.summary).toContainText('must be a number at or below the threshold');
  await expect(toml).toHaveCount(0);
  await expect(chart).toHaveAttribute('data-thresholds', '1');
});
