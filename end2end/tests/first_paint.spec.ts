import { expect, test, type Page } from '@playwright/test';

// Server-side rendering: the first HTML already carries real numbers, not "loading".
test('the first HTML of a dashboard contains its metric values', async ({ request }) => {
  const response = await request.get('/d/main');
  expect(response.status()).toBe(200);
  const html = await response.text();
  for (const metric of ['activeUsers', 'requestsPerSec', 'errorRate', 'revenue', 'orders']) {
    expect(html).toContain(`data-testid="card-${metric}"`);
  }
  // Every card's value is a number in its format, never a placeholder.
  const values = [...html.matchAll(/data-testid="metric-value"[^>]*>([^<]*)</g)].map((m) => m[1]);
  expect(values).toHaveLength(5);
  for (const value of values) expect(value).toMatch(/\d/);
  expect(html).toMatch(/\$[\d,]+\.\d\d/); // revenue as currency
  expect(html).toMatch(/\d+\.\d%/); // error rate as percent
  expect(html).toContain('>connecting<');
});

// The client bundle travels compressed (BENCHMARKS.md): `make build` precompresses it and the
// server sends the variant the browser accepts, so a first visit does not fetch ~900 KB.
test('the browser receives the WASM bundle compressed', async ({ page }) => {
  const wasm = page.waitForResponse((response) => response.url().endsWith('.wasm'));
  await page.goto('/d/main');
  const response = await wasm;
  expect(response.status()).toBe(200);
  const headers = await response.allHeaders();
  expect(['gzip', 'br']).toContain(headers['content-encoding']);
  const sent = Number(headers['content-length']);
  const sizes = await response.request().sizes();
  expect(sizes.responseBodySize).toBe(sent);
  // Compressed to well under half (gzip ~37%, brotli ~31% of the raw module).
  expect(sent).toBeLessThan(0.45 * (await response.body()).length);
});

// The bundle is served under its build's path, which never changes its files
// (`server::http::bundle`): a second visit takes the stylesheet, JS and WASM from the browser's
// cache.
test('a second visit loads the bundle from the cache, without asking the server', async ({ page }) => {
  const bundle = () =>
    page.evaluate(() =>
      performance
        .getEntriesByType('resource')
        .map((entry) => entry as PerformanceResourceTiming)
        .filter((entry) => /\/build\/[0-9a-f]{16}\/pkg\/livedash\.(css|js|wasm)$/.test(new URL(entry.name).pathname))
        .map((entry) => ({ name: new URL(entry.name).pathname.split('/').pop(), sent: entry.transferSize })),
    );
  const wasm = page.waitForResponse((response) => response.url().endsWith('/livedash.wasm'));
  await page.goto('/d/main');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  // Kept for good, not for the heuristic while the browser guesses it fresh (as `/pkg/` is).
  expect((await wasm).headers()['cache-control']).toBe('public, max-age=31536000, immutable');
  const first = await bundle();
  expect(first.map((entry) => entry.name).sort()).toEqual(['livedash.css', 'livedash.js', 'livedash.wasm']);
  expect(first.every((entry) => entry.sent > 0)).toBe(true);

  await page.goto('/d/main');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const second = await bundle();
  expect(second.map((entry) => entry.name).sort()).toEqual(['livedash.css', 'livedash.js', 'livedash.wasm']);
  expect(second.map((entry) => entry.sent), 'nothing transferred: no request, not even a 304').toEqual([0, 0, 0]);
});

// What a dashboard's first paint does not need is fetched when first used (BENCHMARKS.md,
// "Loaded when first used"): the page hydrates from the main module alone, and the rule
// preview's form arrives in a module of its own when a preview opens.
/** The WASM modules `page` fetches from now on, by file name, as they arrive. */
function wasmFetched(page: Page): string[] {
  const fetched: string[] = [];
  page.on('response', (response) => {
    // From this build's path only (`server::http::bundle`): never `/pkg/` or another build's.
    const path = new URL(response.url()).pathname;
    if (path.endsWith('.wasm')) fetched.push(path.replace(/^\/build\/[0-9a-f]{16}\/pkg\//, ''));
  });
  return fetched;
}

test('a dashboard hydrates without the split modules; a rule preview fetches its own', async ({ page }) => {
  const fetched = wasmFetched(page);
  await page.goto('/d/main');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('connection-badge')).toHaveText('live');
  expect(fetched).toEqual(['livedash.wasm']);

  const preview = page.getByTestId('rule-preview').first();
  await expect(preview.getByTestId('preview-warn')).toHaveCount(0);
  await preview.locator('summary').click();
  await expect(preview.getByTestId('preview-warn')).toBeVisible();
  expect(fetched.some((name) => name.startsWith('split_rule_preview_form'))).toBe(true);
});

// What the charts draw under the pointer (the crosshair's readout, a drag's band) comes with
// the pointer: a dashboard nobody points at (a wall screen) never fetches it.
test('the crosshair arrives with the pointer: its module is fetched the first time the pointer is over a chart', async ({ page }) => {
  const fetched = wasmFetched(page);
  await page.goto('/d/main');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('connection-badge')).toHaveText('live');
  await expect(page.getByTestId('chart-readout')).toHaveCount(0);
  expect(fetched).toEqual(['livedash.wasm']);

  const charts = page.locator('figure.chart');
  await charts.first().locator('canvas').hover();
  // Every chart of the dashboard shows the time under the pointer.
  await expect(page.getByTestId('chart-readout')).toHaveCount(await charts.count());
  await expect(page.getByTestId('chart-readout').first()).toContainText(':');
  expect(fetched.some((name) => name.startsWith('split_chart_pointer'))).toBe(true);
});

test('a part whose module cannot be fetched says so, and the page lives on', async ({ page }) => {
  await page.route('**/pkg/split_rule_preview_form.wasm', (route) => route.abort('connectionrefused'));
  await page.goto('/d/main');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  const preview = page.getByTestId('rule-preview').first();
  await preview.locator('summary').click();
  await expect(preview.getByRole('alert')).toHaveText('This part of the page could not be loaded: reload the page.');
  const dashboard = page.getByTestId('dashboard');
  const seq = Number(await dashboard.getAttribute('data-seq'));
  await expect.poll(async () => Number(await dashboard.getAttribute('data-seq'))).toBeGreaterThan(seq + 1);
});

// The browser builds a dashboard again in place of the server's markup instead of hydrating it
// (`lazily::rebuilt`): no frame may show it empty or without its numbers, and what it shows
// after is the same page, now live.
type Frame = { cards: number; panels: number; values: number; built: boolean };

test('a dashboard taken over from the server never shows a frame without its cards and panels', async ({ page }) => {
  await page.addInitScript(() => {
    const frames: Frame[] = [];
    (window as unknown as { frames_seen: typeof frames }).frames_seen = frames;
    const look = () => {
      if (document.readyState !== 'loading') {
        const values = [...document.querySelectorAll('[data-testid="metric-value"]')].filter((v) => /\d/.test(v.textContent ?? ''));
        frames.push({
          cards: document.querySelectorAll('.card').length,
          panels: document.querySelectorAll('[data-panel]').length,
          values: values.length,
          built: document.querySelector('.dashboard-page[data-taken-over]') !== null,
        });
      }
      if (frames.length < 600) requestAnimationFrame(look);
    };
    requestAnimationFrame(look);
  });
  await page.goto('/d/main');
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('connection-badge')).toHaveText('live');
  const frames = await page.evaluate(() => (window as unknown as { frames_seen: Frame[] }).frames_seen);
  // Frames of the server's markup, then of the page the browser built.
  expect(frames.some((frame) => !frame.built)).toBe(true);
  expect(frames.some((frame) => frame.built)).toBe(true);
  const first = frames[0];
  expect(first.cards).toBeGreaterThan(0);
  expect(first.panels).toBeGreaterThan(0);
  expect(first.values).toBe(first.cards);
  expect(frames.filter((frame) => frame.cards < first.cards || frame.panels < first.panels || frame.values < first.values)).toEqual([]);
  // What shows now is the page the browser built.
  await expect(page.locator('.dashboard-page')).toHaveAttribute('data-taken-over', '');
});
