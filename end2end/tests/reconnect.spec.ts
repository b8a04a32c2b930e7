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
  await dashboard.goto({ params: { maxAttempts: 2, heartbeatMs: 500, backoffMs: 300, backoffCapMs: 600 } });
  await expect(dashboard.badge).toHaveText('live');
  const banner = dashboard.banner;
  await expect(banner).toBeHidden();
  await expect(dashboard.root).toHaveAttribute('data-stale', 'false');

  // Cut the connection and refuse new ones.
  refusing = true;
  for (const ws of open) await ws.close();
  await expect(banner).toBeVisible();
  await expect(banner).toHaveAttribute('data-state', 'reconnecting');
  await expect(dashboard.bannerMessage).toHaveText(/Reconnecting… attempt 1, next try in \d+ s\./);
  await expect(dashboard.bannerAge).toHaveText(/Last data \d+ s ago\./);
  await expect(dashboard.root).toHaveAttribute('data-stale', 'true');
  await expect(dashboard.badge).toHaveAttribute('data-state', 'reconnecting');
  // Dimming fades in (a 0.3 s transition): wait for it rather than sample it mid-way.
  const opacity = () => dashboard.value('activeUsers').evaluate((element) => Number(getComputedStyle(element).opacity));
  await expect.poll(opacity).toBeLessThan(0.6);

  // Two failed attempts later the page gives up and says so.
  await expect(banner).toHaveAttribute('data-state', 'offline', { timeout: 15_000 });
  await expect(dashboard.bannerMessage).toHaveText('Offline: the server could not be reached after 2 attempts.');
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

test('a server that refuses the client (close 4003) puts the page Offline at once, and it does not retry by itself', async ({ page }) => {
  let refusing = true;
  let attempts = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    attempts++;
    if (refusing) {
      ws.close({ code: 4003, reason: 'forbidden' });
      return;
    }
    ws.connectToServer();
  });

  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto({ params: { heartbeatMs: 500, backoffMs: 200, backoffCapMs: 400 } });
  const banner = dashboard.banner;
  await expect(banner).toHaveAttribute('data-state', 'offline');
  await expect(dashboard.bannerMessage).toHaveText(
    'Offline: the server ended the connection (not allowed to read this dashboard, code 4003) and asked not to retry.',
  );
  await expect(dashboard.root).toHaveAttribute('data-stale', 'true');
  // Several backoff periods later it has still not tried again, nor fallen back to SSE.
  await page.waitForTimeout(2_000);
  expect(attempts).toBe(1);
  await expect(dashboard.badge).toHaveAttribute('data-transport', 'ws');

  refusing = false;
  await page.getByRole('button', { name: 'Retry now' }).click();
  await expect(dashboard.badge).toHaveText('live');
  await expect(banner).toBeHidden();
  expect(attempts).toBe(2);
});

test('a server that ends the session (close 4001) shows signed out with a sign-in link, not a retry', async ({ page }) => {
  let attempts = 0;
  await page.routeWebSocket(/\/ws$/, (ws) => {
    attempts++;
    ws.close({ code: 4001, reason: 'token expired' });
  });
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto({ params: { heartbeatMs: 500, backoffMs: 200, backoffCapMs: 400 } });
  await expect(dashboard.banner).toHaveAttribute('data-state', 'signed-out');
  await expect(dashboard.bannerMessage).toHaveText(
    'Signed out: the session ended or expired. These numbers are no longer live.',
  );
  await expect(page.getByRole('button', { name: 'Retry now' })).toHaveCount(0);
  await expect(page.getByTestId('sign-in-again')).toHaveAttribute('href', /^\/login\?next=\/d\/main/);
  await page.waitForTimeout(1_500);
  expect(attempts).toBe(1);
});
