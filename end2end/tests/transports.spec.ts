import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

// The browser's client speaks all three transports of the protocol; `?transport=` forces one.
for (const transport of ['sse', 'poll'] as const) {
  test(`the dashboard stays live over ${transport} without a WebSocket`, async ({ page }) => {
    const sockets: string[] = [];
    page.on('websocket', (socket) => sockets.push(socket.url()));
    const dashboard = new DashboardPage(page, 'main');
    await page.goto(`/d/main?transport=${transport}`);
    await dashboard.waitForHydration();
    await expect(dashboard.badge).toHaveText('live');
    await expect(dashboard.badge).toHaveAttribute('data-transport', transport);

    const seq = await dashboard.seq();
    await expect.poll(() => dashboard.seq(), { timeout: 8_000 }).toBeGreaterThan(seq + 2);
    expect(sockets.filter((url) => url.endsWith('/ws'))).toEqual([]);
  });
}

test('WebSocket is the default transport', async ({ page }) => {
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveAttribute('data-transport', 'ws');
});

test('a blocked WebSocket falls back to SSE', async ({ page }) => {
  // A proxy that refuses WebSocket upgrades: the socket closes without a word.
  await page.routeWebSocket(/\/ws$/, (ws) => ws.close());
  const dashboard = new DashboardPage(page, 'main');
  await page.goto('/d/main?heartbeatMs=500');
  await dashboard.waitForHydration();
  await expect(dashboard.badge).toHaveAttribute('data-transport', 'sse', { timeout: 15_000 });
  await expect(dashboard.badge).toHaveText('live');
  const seq = await dashboard.seq();
  await expect.poll(() => dashboard.seq(), { timeout: 8_000 }).toBeGreaterThan(seq + 1);
});

test('with WebSocket and SSE both blocked the page stays live over long-polling', async ({ page }) => {
  await page.routeWebSocket(/\/ws$/, (ws) => ws.close());
  await page.route('**/api/v1/stream/**', (route) => route.abort('connectionrefused'));
  const dashboard = new DashboardPage(page, 'main');
  await page.goto('/d/main?heartbeatMs=500');
  await dashboard.waitForHydration();
  await expect(dashboard.badge).toHaveAttribute('data-transport', 'poll', { timeout: 20_000 });
  await expect(dashboard.badge).toHaveText('live');
  const seq = await dashboard.seq();
  await expect.poll(() => dashboard.seq(), { timeout: 8_000 }).toBeGreaterThan(seq + 1);
});
