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
  await dashboard.expectLiveOver('sse', 15_000);
});

test('the fallback transports are fetched the first time one runs; a fetch that fails is retried, not fatal', async ({ page }) => {
  // A page whose WebSocket works never fetches them (first_paint.spec.ts). Here the first
  // fetches fail, as when the server is down (often why a fallback runs): each attempt is a
  // lost session the connection retries, and the page lives on to go live once one succeeds.
  const fallbacks = '**/pkg/split_fallback_transports.wasm';
  let refused = 0;
  await page.route(fallbacks, (route) => {
    refused += 1;
    return route.abort('connectionrefused');
  });
  const dashboard = new DashboardPage(page, 'main');
  await page.goto('/d/main?transport=sse&backoffMs=200&backoffCapMs=400');
  await dashboard.waitForHydration();
  await expect.poll(() => refused, { timeout: 10_000 }).toBeGreaterThan(2);
  await expect(dashboard.badge).not.toHaveText('live');
  await page.unroute(fallbacks);
  await dashboard.expectLiveOver('sse', 10_000);
});

test('with WebSocket and SSE both blocked the page stays live over long-polling', async ({ page }) => {
  await page.routeWebSocket(/\/ws$/, (ws) => ws.close());
  await page.route('**/api/v1/stream/**', (route) => route.abort('connectionrefused'));
  const dashboard = new DashboardPage(page, 'main');
  await page.goto('/d/main?heartbeatMs=500');
  await dashboard.waitForHydration();
  await dashboard.expectLiveOver('poll', 20_000);
});

test('over long-polling, navigating back and forth leaves no request behind and stays live', async ({ page, request }) => {
  // Two quiet dashboards: their polls wait the full 25 s for news. A poll whose dashboard
  // closed must be aborted, not left holding one of the browser's six connections per server.
  const stamp = Date.now();
  const [first, second] = [`quiet-a-${stamp}`, `quiet-b-${stamp}`];
  const push = (dashboard: string, value: number) =>
    request.post('/api/v1/ingest', { data: { dashboard, metrics: { depth: value } } });
  expect((await push(first, 1)).status()).toBe(202);
  expect((await push(second, 2)).status()).toBe(202);
  const waiting = new Set<object>();
  page.on('request', (sent) => sent.url().includes('/api/v1/poll/') && waiting.add(sent));
  page.on('requestfinished', (done) => waiting.delete(done));
  page.on('requestfailed', (failed) => waiting.delete(failed));

  const view = new DashboardPage(page, first);
  await page.goto(`/d/${first}?transport=poll`);
  await view.waitForHydration();
  await expect(view.badge).toHaveText('live', { timeout: 5_000 });
  const list = page.getByTestId('dashboard-list');
  for (let round = 0; round < 4; round++) {
    for (const id of [second, first]) {
      await page.getByRole('link', { name: 'livedash' }).click();
      await list.getByRole('link', { name: new RegExp(id) }).click();
      await expect(view.root).toHaveAttribute('data-dashboard', id);
    }
  }
  await expect(view.badge).toHaveAttribute('data-transport', 'poll');
  expect((await push(first, 42)).status()).toBe(202);
  await expect(view.value('depth')).toHaveText('42.00', { timeout: 5_000 });
  await expect.poll(() => waiting.size).toBeLessThanOrEqual(1);
});

for (const transport of ['sse', 'poll'] as const) {
  test(`a quiet dashboard shows live at once over ${transport}, and its next value as it comes`, async ({ page, request }) => {
    const dashboard = `quiet-${transport}-${Date.now()}`;
    const push = (value: number) => request.post('/api/v1/ingest', { data: { dashboard, metrics: { depth: value } } });
    expect((await push(1)).status()).toBe(202);
    const view = new DashboardPage(page, dashboard);
    await page.goto(`/d/${dashboard}?transport=${transport}`);
    await view.waitForHydration();
    // Nothing new to send, yet the page knows within a moment that it is connected.
    await expect(view.badge).toHaveText('live', { timeout: 3_000 });
    expect((await push(7)).status()).toBe(202);
    await expect(view.value('depth')).toHaveText('7.00', { timeout: 3_000 });
  });
}
