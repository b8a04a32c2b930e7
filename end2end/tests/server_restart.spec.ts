import { expect, test } from '@playwright/test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DashboardPage } from './fixtures/dashboard_page';
import { RestartableServer } from './fixtures/livedash_server';

// A server of this test's own (the shared one must keep running), with its own store.
const data = mkdtempSync(path.join(tmpdir(), 'livedash-restart-'));
const server = new RestartableServer(['--host-metrics', 'false', '--data', path.join(data, 'store.sqlite')]);

test.afterAll(() => rmSync(data, { recursive: true, force: true }));

test('after a server restart the page reconnects by itself and resumes from the kept history', async ({ page }) => {
  await server.start();
  try {
    const dashboard = new DashboardPage(page, 'main');
    await dashboard.goto({ base: server.base, params: { heartbeatMs: 1000 } });
    await expect(dashboard.badge).toHaveText('live');
    const epoch = await dashboard.root.getAttribute('data-epoch');

    await server.stop();
    await expect(dashboard.banner).toBeVisible();
    await expect(dashboard.root).toHaveAttribute('data-stale', 'true');
    await server.start();

    await expect(dashboard.badge).toHaveText('live', { timeout: 15_000 });
    await expect(dashboard.root).toHaveAttribute('data-stale', 'false');
    // The store kept the epoch and seq, so the page resumed rather than starting over.
    await expect(dashboard.root).toHaveAttribute('data-epoch', epoch!);
    await expect(dashboard.panel('recovery')).toHaveText(/^resumed after seq \d+$/);
    await expect(page.getByTestId('connection-panel')).toHaveAttribute('data-seq-anomalies', '0');
    const seq = await dashboard.seq();
    await expect.poll(() => dashboard.seq(), { timeout: 8_000 }).toBeGreaterThan(seq + 1);
  } finally {
    await server.stop();
  }
});
