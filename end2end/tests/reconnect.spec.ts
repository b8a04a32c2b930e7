import { expect, test, type WebSocketRoute } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

test('a lost connection shows the banner and stale data, gives up after maxAttempts, and Retry now recovers', async ({ page }) => {
  // Every WebSocket goes through this route: passed to the server, or refused while `refusing`.
  let refusing = false;
  const open: WebSocketRoute[] = [];
  await page.routeWebSocket(/\/ws$/, (ws) => {
    if (refusing) {
      ws.close();
      return;
    }
    ws.connectToServer();
    open.push(ws);
  });

  const dashboard = new DashboardPage(page, 'main');
  // Short heartbeats so a dead connection is noticed within a second.
  await page.goto('/d/main?maxAttempts=2&heartbeatMs=500&backoffMs=300&backoffCapMs=600');
  await dashboard.waitForHydration();
  await expect(dashboard.badge).toHaveText('live');
  const banner = page.getByTestId('connection-banner');
  await expect(banner).toBeHidden();
  await expect(dashboard.root).toHaveAttribute('data-stale', 'false');

  // Cut the connection and refuse new ones.
  refusing = true;
  for (const ws of open) await ws.close();
  await expect(banner).toBeVisible();
  await expect(banner).toHaveAttribute('data-state', 'reconnecting');
  await expect(page.getByTestId('banner-message')).toHaveText(/Reconnecting… attempt 1, next try in \d+ s\./);
  await expect(page.getByTestId('banner-age')).toHaveText(/Last data \d+ s ago\./);
  await expect(dashboard.root).toHaveAttribute('data-stale', 'true');
  await expect(dashboard.badge).toHaveAttribute('data-state', 'reconnecting');
  const dimmed = await dashboard.value('activeUsers').evaluate((element) => Number(getComputedStyle(element).opacity));
  expect(dimmed).toBeLessThan(0.6);

  // Two failed attempts later the page gives up and says so.
  await expect(banner).toHaveAttribute('data-state', 'offline', { timeout: 15_000 });
  await expect(page.getByTestId('banner-message')).toHaveText('Offline: the server could not be reached after 2 attempts.');
  await expect(dashboard.badge).toHaveText('offline');
  const seqOffline = await dashboard.seq();
  await page.screenshot({ path: 'test-results/offline.png' });

  // The network is back; "Retry now" reconnects at once and resumes from the held position.
  refusing = false;
  await page.getByRole('button', { name: 'Retry now' }).click();
  await expect(dashboard.badge).toHaveText('live');
  await expect(banner).toBeHidden();
  await expect(dashboard.root).toHaveAttribute('data-stale', 'false');
  await expect.poll(() => dashboard.seq()).toBeGreaterThan(seqOffline);
  await page.screenshot({ path: 'test-results/reconnected.png' });
});
