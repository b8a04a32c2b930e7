import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';
import { TcpProxy } from './fixtures/tcp_proxy';

// A proxy that swallows WebSocket upgrades (accepts, never answers, never closes) must cost
// the page a few seconds, not the 30 s of two heartbeats per attempt: the handshake has its
// own timeout and a held handshake falls back to SSE at once.
test('a proxy that never answers the WebSocket upgrade falls back to SSE within seconds', async ({ page, baseURL }) => {
  const proxy = new TcpProxy(Number(new URL(baseURL!).port), { holdUpgrades: true });
  await proxy.start();
  try {
    const dashboard = new DashboardPage(page, 'main');
    await dashboard.goto({ base: `http://127.0.0.1:${proxy.port}` });
    await expect(dashboard.badge).toHaveAttribute('data-transport', 'sse', { timeout: 8_000 });
    await expect(dashboard.badge).toHaveText('live');
    expect(proxy.upgradesHeld).toBe(1);
    const seq = await dashboard.seq();
    await expect.poll(() => dashboard.seq(), { timeout: 8_000 }).toBeGreaterThan(seq + 1);
  } finally {
    await proxy.stop();
  }
});
