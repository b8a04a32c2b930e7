import { expect, test } from '@playwright/test';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DashboardPage } from './fixtures/dashboard_page';
import { startServer, stopServer } from './fixtures/livedash_server';

// A server of this test's own (the shared one must keep running), with its own store; the
// first start picks a free port, the restart reuses it so the page finds the server again.
const data = mkdtempSync(path.join(tmpdir(), 'livedash-restart-'));
let port = 0;

async function startRestartable(): Promise<ChildProcess> {
  const started = await startServer(['--host-metrics', 'false', '--data', path.join(data, 'store.sqlite')], port);
  port = started.port;
  return started.server;
}

test.afterAll(() => rmSync(data, { recursive: true, force: true }));

test('after a server restart the page reconnects by itself and resumes from the kept history', async ({ page }) => {
  let server = await startRestartable();
  try {
    const dashboard = new DashboardPage(page, 'main');
    await dashboard.goto({ base: `http://127.0.0.1:${port}`, params: { heartbeatMs: 1000 } });
    await expect(dashboard.badge).toHaveText('live');
    const epoch = await dashboard.root.getAttribute('data-epoch');

    await stopServer(server);
    await expect(dashboard.banner).toBeVisible();
    await expect(dashboard.root).toHaveAttribute('data-stale', 'true');
    server = await startRestartable();

    await expect(dashboard.badge).toHaveText('live', { timeout: 15_000 });
    await expect(dashboard.root).toHaveAttribute('data-stale', 'false');
    // The store kept the epoch and seq, so the page resumed rather than starting over.
    await expect(dashboard.root).toHaveAttribute('data-epoch', epoch!);
    await expect(dashboard.panel('recovery')).toHaveText(/^resumed after seq \d+$/);
    await expect(page.getByTestId('connection-panel')).toHaveAttribute('data-seq-anomalies', '0');
    const seq = await dashboard.seq();
    await expect.poll(() => dashboard.seq(), { timeout: 8_000 }).toBeGreaterThan(seq + 1);
  } finally {
    await stopServer(server);
  }
});
