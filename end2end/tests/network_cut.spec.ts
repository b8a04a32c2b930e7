import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';
import { TcpProxy } from './fixtures/tcp_proxy';

test('a 5 second network cut: banner within the heartbeat bound, stale data, then resumed with no gap', async ({ page, baseURL }) => {
  const proxy = new TcpProxy(Number(new URL(baseURL!).port));
  await proxy.start();
  try {
    const dashboard = new DashboardPage(page, 'main');
    // Heartbeat 1 s: a silent connection is declared dead after 2 s.
    await dashboard.goto({ base: `http://127.0.0.1:${proxy.port}`, params: { heartbeatMs: 1000 } });
    await expect(dashboard.badge).toHaveText('live');
    await expect(dashboard.panel('rtt')).toHaveText(/\d+ ms/);
    const banner = dashboard.banner;
    const seqBefore = await dashboard.seq();

    proxy.cut();
    const cutAt = Date.now();
    await expect(banner).toBeVisible({ timeout: 4_000 });
    expect(Date.now() - cutAt).toBeLessThan(4_000);
    await expect(dashboard.root).toHaveAttribute('data-stale', 'true');
    await page.waitForTimeout(Math.max(0, 5_000 - (Date.now() - cutAt)));
    const seqDuringCut = await dashboard.seq();
    expect(seqDuringCut - seqBefore).toBeLessThanOrEqual(1);
    proxy.restore();

    await expect(dashboard.badge).toHaveText('live', { timeout: 10_000 });
    await expect(banner).toBeHidden();
    await expect(dashboard.root).toHaveAttribute('data-stale', 'false');
    // The updates published during the cut were replayed, in order, none twice, none missing.
    await expect(dashboard.panel('recovery')).toHaveText(/^resumed after seq \d+$/);
    await expect(dashboard.panel('reconnects')).toHaveText('1');
    await expect(page.getByTestId('connection-panel')).toHaveAttribute('data-seq-anomalies', '0');
    await expect.poll(() => dashboard.seq()).toBeGreaterThan(seqDuringCut + 4);
    await page.screenshot({ path: 'test-results/after-network-cut.png' });
  } finally {
    await proxy.stop();
  }
});
