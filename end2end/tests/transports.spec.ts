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
