import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

test('/ lists both dashboards; navigating between them subscribes and unsubscribes on one WebSocket', async ({ page }) => {
  // Every socket the page opens, and every message it sends on them.
  const sockets: string[] = [];
  const sent: { type: string; dashboard?: string }[] = [];
  page.on('websocket', (socket) => {
    sockets.push(socket.url());
    socket.on('framesent', (frame) => sent.push(JSON.parse(String(frame.payload))));
  });
  const subscribed = (dashboard: string) => sent.filter((m) => m.type === 'subscribe' && m.dashboard === dashboard).length;
  // The list's module: a page made in the browser needs it, the server's list hydrated does not.
  let listModules = 0;
  page.on('request', (request) => {
    if (request.url().endsWith('/split_home_list.wasm')) listModules += 1;
  });

  await page.goto('/');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  // The tab says where the page is: written by the server, then kept by the browser as it
  // moves between pages.
  await expect(page).toHaveTitle('Dashboards · livedash');
  const list = page.getByTestId('dashboard-list');
  await expect(list.getByRole('link', { name: /Shop \(demo\)/ })).toBeVisible();
  await expect(list.getByRole('link', { name: /Host/ })).toBeVisible();
  expect(sockets, 'the list needs no live connection').toEqual([]);

  await list.getByRole('link', { name: /Shop \(demo\)/ }).click();
  await expect(page).toHaveURL(/\/d\/main$/);
  const main = new DashboardPage(page, 'main');
  await expect(main.root).toHaveAttribute('data-dashboard', 'main');
  await expect(main.badge).toHaveText('live');
  await expect(page).toHaveTitle('Shop (demo) · livedash');
  await expect.poll(() => subscribed('main')).toBe(1);
  await page.screenshot({ path: 'test-results/dashboard-main.png', fullPage: true });

  expect(listModules).toBe(0);

  await page.getByRole('link', { name: 'livedash' }).click();
  await expect(page).toHaveTitle('Dashboards · livedash');
  await expect(list.getByRole('link', { name: /Host/ })).toBeVisible();
  expect(listModules).toBe(1);
  await expect.poll(() => sent.some((m) => m.type === 'unsubscribe' && m.dashboard === 'main')).toBe(true);
  await list.getByRole('link', { name: /Host/ }).click();
  await expect(page).toHaveURL(/\/d\/host$/);
  const host = new DashboardPage(page, 'host');
  await expect(host.root).toHaveAttribute('data-dashboard', 'host');
  await expect(page.locator('[data-panel="cpu"]')).toBeVisible();
  await expect(host.badge).toHaveText('live');
  await expect(page).toHaveTitle(/^Host.* · livedash$/);
  await expect.poll(() => subscribed('host')).toBe(1);
  const hostSeq = await host.seq();
  await expect.poll(() => host.seq(), { timeout: 8_000 }).toBeGreaterThan(hostSeq);
  await page.screenshot({ path: 'test-results/dashboard-host.png', fullPage: true });

  // Back to the first one: subscribed again, live again, still on the same socket.
  await page.goBack();
  await page.goBack();
  await expect(page).toHaveURL(/\/d\/main$/);
  await expect(main.badge).toHaveText('live');
  await expect(page).toHaveTitle('Shop (demo) · livedash');
  await expect.poll(() => subscribed('main')).toBe(2);
  const mainSeq = await main.seq();
  await expect.poll(() => main.seq(), { timeout: 8_000 }).toBeGreaterThan(mainSeq);
  await expect(page.getByTestId('connection-panel')).toHaveAttribute('data-seq-anomalies', '0');
  expect(sockets.filter((url) => url.endsWith('/ws'))).toHaveLength(1);
  await expect(page.locator('nav.topbar')).toHaveAttribute('data-sockets-opened', '1');
});

test('an ingested dashboard appears and goes live', async ({ page, request }) => {
  const dashboard = `e2e-${Date.now()}`;
  const push = (value: number) =>
    request.post('/api/v1/ingest', { data: { dashboard, metrics: { queueDepth: value } } });
  expect((await push(5)).status()).toBe(202);
  const view = new DashboardPage(page, dashboard);
  await view.goto();
  await expect(view.value('queueDepth')).toHaveText('5.00');
  await expect(view.badge).toHaveText('live');
  expect((await push(42)).status()).toBe(202);
  await expect(view.value('queueDepth')).toHaveText('42.00');
});

test('the theme follows the system setting; the toggle switches it, charts included, and remembers', async ({ browser }) => {
  const context = await browser.newContext({ colorScheme: 'light' });
  const page = await context.newPage();
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  const html = page.locator('html');
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const chartCorner = () =>
    page.getByTestId('chart-activeUsers').locator('canvas').evaluate((canvas: HTMLCanvasElement) =>
      Array.from(canvas.getContext('2d')!.getImageData(2, 2, 1, 1).data.slice(0, 3)),
    );
  await expect(html).toHaveAttribute('data-theme', 'light');
  expect(await background()).toBe('rgb(244, 246, 249)');
  await expect.poll(chartCorner).toEqual([255, 255, 255]);
  await page.screenshot({ path: 'test-results/theme-light.png', fullPage: true });

  await page.getByRole('button', { name: 'Switch to dark theme' }).click();
  await expect(html).toHaveAttribute('data-theme', 'dark');
  expect(await background()).toBe('rgb(14, 19, 27)');
  await expect.poll(chartCorner).toEqual([0x15, 0x1b, 0x26]);
  await page.screenshot({ path: 'test-results/theme-dark.png', fullPage: true });

  // The choice outlives a reload, whatever the system says.
  await page.reload();
  await dashboard.waitForHydration();
  await expect(html).toHaveAttribute('data-theme', 'dark');
  await expect(page.getByRole('button', { name: 'Switch to light theme' })).toBeVisible();
  await context.close();
});

// A page left open across a redeploy asks its own build's path for a page's module and gets a
// 404 (`server::http::bundle`): the page is then loaded from the server, as a plain link. The
// home page's list needs its module only when the browser makes it (the server's list, hydrated,
// needs no code).
test('a route whose module cannot be fetched is loaded from the server instead', async ({ page }) => {
  let missing = true;
  await page.route('**/split_home_list.wasm', (route) => (missing ? route.fulfill({ status: 404 }) : route.continue()));
  const documents: string[] = [];
  page.on('request', (request) => {
    if (!request.isNavigationRequest()) return;
    documents.push(new URL(request.url()).pathname);
    // The new build's page brings modules it can fetch.
    if (documents.length > 1) missing = false;
  });
  await page.goto('/d/main');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.evaluate(() => ((window as unknown as { openedBefore: boolean }).openedBefore = true));

  await page.getByRole('link', { name: 'livedash' }).click();
  await expect(page.getByTestId('dashboard-list')).toBeVisible();
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  expect(documents).toEqual(['/d/main', '/']);
  expect(await page.evaluate(() => (window as unknown as { openedBefore?: boolean }).openedBefore)).toBeUndefined();
  // Live again: the list's links work in the page now loaded.
  await page.getByTestId('dashboard-list').getByRole('link', { name: /Shop \(demo\)/ }).click();
  await expect(page.getByTestId('dashboard')).toHaveAttribute('data-dashboard', 'main');
  expect(documents).toHaveLength(2);
});

test('a route whose module stays missing is loaded once, not without end', async ({ page }) => {
  await page.route('**/split_home_list.wasm', (route) => route.fulfill({ status: 404 }));
  const documents: string[] = [];
  page.on('request', (request) => {
    if (request.isNavigationRequest()) documents.push(new URL(request.url()).pathname);
  });
  await page.goto('/d/main');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await page.getByRole('link', { name: 'livedash' }).click();
  await expect.poll(() => documents).toEqual(['/d/main', '/']);
  // The server's page stays (its list and links work without the module: plain links).
  await expect(page.getByTestId('dashboard-list')).toBeVisible();
  await page.waitForTimeout(2_000);
  expect(documents).toEqual(['/d/main', '/']);
});
