import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Locator, type Page } from '@playwright/test';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { RulePreview } from './fixtures/alerts_panel';
import { startServer, stopServer } from './fixtures/livedash_server';

// A dashboard of configured panels, one of each kind, over series a feeder writes four times a
// second (counters by status code, temperatures, services up or down, a latency histogram, a
// queue's depth): each kind draws and shows its values; the crosshair is shared; a drag zooms
// every chart and "back to live" returns; compare draws the period an hour ago; the URL holds
// the view (one panel, kiosk, rotation) and back/forward walk it; exports hold what is shown; a
// panel whose series fall silent is marked stale. Screenshots of every kind in both themes are
// saved in test-results/panels/.

const CONFIG = `
[[dashboards]]
id = "wall"
title = "Wall"

[[dashboards.panels]]
id = "requests"
title = "Requests by code"
kind = "line"
query = 'sum by (code) (rate(http_requests_total[2s]))'
compare = "1h"

[[dashboards.panels]]
id = "depth-area"
title = "Queue depth"
kind = "area"
metrics = ["queue_depth"]
thresholds = [{ value = 0, color = "green" }, { value = 80, color = "red" }]

[[dashboards.panels]]
id = "temperatures"
title = "Temperatures stacked"
kind = "stacked"
query = 'temperature'

[[dashboards.panels]]
id = "throughput"
title = "Throughput"
kind = "bar"
query = 'sum(rate(http_requests_total[2s]))'

[[dashboards.panels]]
id = "depth"
title = "Depth now"
kind = "stat"
metrics = ["queue_depth"]
thresholds = [{ value = 0, color = "green" }, { value = 50, color = "orange" }, { value = 80, color = "red" }]

[[dashboards.panels]]
id = "depth-gauge"
title = "Depth gauge"
kind = "gauge"
metrics = ["queue_depth"]
min = 0
max = 100
thresholds = [{ value = 0, color = "green" }, { value = 80, color = "#d64545" }]

[[dashboards.panels]]
id = "services"
title = "Services"
kind = "status"
query = 'up'

[[dashboards.panels]]
id = "rooms"
title = "Rooms"
kind = "table"
query = 'temperature'

[[dashboards.panels]]
id = "latency"
title = "Latency"
kind = "heatmap"
query = 'rate(latency_bucket[2s])'

[[dashboards.panels]]
id = "sometimes"
title = "Silent after a while"
kind = "line"
metrics = ["sometimes"]

[[dashboards]]
id = "other"
title = "Other"
`;

const folder = mkdtempSync(path.join(tmpdir(), 'livedash-panels-'));
let server: ChildProcess;
let base: string;
let feeding: NodeJS.Timeout | undefined;
let tick = 0;
/** Whether `sometimes` is still written. */
let sometimes = true;

async function ingest(body: unknown) {
  const answer = await fetch(`${base}/api/v1/ingest`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  expect(answer.status).toBe(202);
}

/** The values of the wall dashboard at tick `i` (a quarter second apart), at `ts`. */
function values(i: number, ts: number, dashboard = 'wall') {
  const metrics: Record<string, number> = {
    'http_requests_total{code="200"}': i * 25,
    'http_requests_total{code="500"}': i * 2,
    'temperature{room="lab"}': 20 + (i % 8) / 4,
    'temperature{room="office"}': 22,
    'up{service="web"}': 1,
    'up{service="db"}': Math.floor(i / 8) % 2,
    'latency_bucket{le="0.1"}': i * 10,
    'latency_bucket{le="0.5"}': i * 14,
    'latency_bucket{le="+Inf"}': i * 15,
    queue_depth: 40 + (i % 20),
  };
  if (sometimes && dashboard === 'wall') metrics.sometimes = i % 3;
  return { dashboard, ts, metrics };
}

test.beforeAll(async () => {
  const config = path.join(folder, 'livedash.toml');
  writeFileSync(config, CONFIG);
  const started = await startServer([
    '--host-metrics', 'false', '--simulator', 'false', '--config', config, '--data', path.join(folder, 'store.sqlite'),
  ]);
  server = started.server;
  base = `http://127.0.0.1:${started.port}`;
  // An hour ago, the same series for ten minutes (what compare reads), then live every 250 ms.
  const now = Date.now();
  const earlier = [];
  for (let i = 0; i < 600; i++) earlier.push(values(i, now - 3_600_000 - 300_000 + i * 1_000));
  await ingest(earlier);
  await ingest({ dashboard: 'other', metrics: { x: 1 } });
  feeding = setInterval(() => {
    tick += 1;
    ingest(values(tick, Date.now())).catch(() => {});
  }, 250);
});

test.afterAll(async () => {
  clearInterval(feeding);
  await stopServer(server);
  rmSync(folder, { recursive: true, force: true });
});

function panel(page: Page, id: string): Locator {
  return page.locator(`[data-panel="${id}"]`);
}

/** Distinct colours drawn on the panel's canvas (a blank one has one or two). */
async function colours(canvas: Locator): Promise<number> {
  return canvas.evaluate((element: HTMLCanvasElement) => {
    const context = element.getContext('2d')!;
    const { data } = context.getImageData(0, 0, element.width, element.height);
    const seen = new Set<number>();
    for (let i = 0; i < data.length; i += 16) seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
    return seen.size;
  });
}

async function open(page: Page, query = '') {
  await page.goto(`${base}/d/wall${query}`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

test('each panel kind draws its series and shows its values, in both themes', async ({ browser }) => {
  mkdirSync('test-results/panels', { recursive: true });
  for (const colorScheme of ['dark', 'light'] as const) {
    const context = await browser.newContext({ colorScheme, viewport: { width: 1400, height: 1000 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    page.on('console', (message) => message.type() === 'error' && errors.push(message.text()));
    await open(page);
    for (const [id, kind] of [
      ['requests', 'line'], ['depth-area', 'area'], ['temperatures', 'stacked'], ['throughput', 'bar'],
      ['depth', 'stat'], ['depth-gauge', 'gauge'], ['services', 'status'], ['rooms', 'table'], ['latency', 'heatmap'],
    ]) {
      await expect(panel(page, id)).toHaveAttribute('data-kind', kind);
    }
    // Charts: lines for each answer series, drawn pixels.
    const requests = panel(page, 'requests');
    await expect(requests.getByTestId('chart-legend').locator('.legend-name')).toHaveText(['code=200', 'code=500']);
    // 25 a tick, four ticks a second: 100/s for code 200.
    await expect(requests.locator('[data-series="{code=\\"200\\"}"] .legend-values')).toContainText(/last (9\d|10\d)(\.\d+)?\/s/);
    for (const id of ['requests', 'depth-area', 'temperatures', 'throughput', 'services', 'latency']) {
      const chart = panel(page, id).locator('canvas');
      await expect.poll(() => colours(chart), { message: `${id} draws` }).toBeGreaterThan(6);
      await expect.poll(async () => Number(await panel(page, id).locator('figure').getAttribute('data-points'))).toBeGreaterThan(4);
    }
    await expect(panel(page, 'services').locator('figure')).toHaveAttribute('data-series', '2');
    await expect(panel(page, 'latency').locator('figure')).toHaveAttribute('data-series', '3');
    // Stat and gauge: the number, coloured by threshold (40 to 59: orange; the gauge's green).
    await expect(panel(page, 'depth').getByTestId('stat-value')).toHaveText(/^\d\d(\.\d+)?$/);
    await expect(panel(page, 'depth').getByTestId('stat-value')).toHaveAttribute('data-color', /#d98c00|#2e9e5b/);
    await expect(panel(page, 'depth-gauge').getByTestId('gauge-value')).toHaveText(/^\d\d(\.\d+)?$/);
    await expect.poll(() => colours(panel(page, 'depth-gauge').locator('canvas'))).toBeGreaterThan(3);
    // The stat, gauge and table bodies come alive from a module of their own, fetched after
    // the page hydrates: the numbers then follow the stream (the depth steps at every tick)
    // and the stat draws its sparkline.
    const depth = panel(page, 'depth').getByTestId('stat-value');
    const before = (await depth.textContent())!;
    await expect(depth).not.toHaveText(before);
    await expect.poll(() => colours(panel(page, 'depth').locator('canvas.stat-sparkline'))).toBeGreaterThan(1);
    // Table: a row per series, labels as columns, sortable by a header (once its live view
    // has taken the server's markup over: until then the headers do nothing).
    await expect(panel(page, 'rooms').locator('.panel-body')).toHaveAttribute('data-taken-over', '');
    const table = panel(page, 'rooms').getByTestId('panel-table');
    await expect(table.locator('tbody tr')).toHaveCount(2);
    await expect(table.locator('th')).toHaveText(['room', 'value']);
    await expect(table.locator('th').last()).toHaveAttribute('aria-sort', 'descending');
    await table.getByRole('button', { name: 'room' }).click();
    await expect(table.locator('tbody tr td:first-child')).toHaveText(['office', 'lab']);
    await table.getByRole('button', { name: 'room' }).click();
    await expect(table.locator('tbody tr td:first-child')).toHaveText(['lab', 'office']);
    for (const id of ['requests', 'depth-area', 'temperatures', 'throughput', 'depth', 'depth-gauge', 'services', 'rooms', 'latency']) {
      await panel(page, id).screenshot({ path: `test-results/panels/${id}-${colorScheme}.png` });
    }
    expect(errors, 'the page hydrates and takes its panels over without an error').toEqual([]);
    await context.close();
  }
});

test('the page as the server sends it shows the stat, gauge and table numbers before any script runs', async ({ browser }) => {
  const context = await browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  await page.goto(`${base}/d/wall`);
  await expect(panel(page, 'depth').getByTestId('stat-value')).toHaveText(/^\d\d(\.\d+)?$/);
  await expect(panel(page, 'depth-gauge').getByTestId('gauge-value')).toHaveText(/^\d\d(\.\d+)?$/);
  await expect(panel(page, 'rooms').getByTestId('panel-table').locator('tbody tr')).toHaveCount(2);
  await context.close();
});

test('a table whose query engine is still loading keeps the numbers the server sent, then follows the stream', async ({ browser }) => {
  const context = await browser.newContext();
  // The query engine's module held back: the bodies' module arrives first.
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await context.route('**/split_query_engine.wasm', async (route) => {
    await held;
    await route.continue();
  });
  const page = await context.newPage();
  await open(page);
  // The stat reads a metric: its live body is in place once the bodies' module has run.
  await expect(panel(page, 'depth').locator('.panel-body')).toHaveAttribute('data-taken-over', '');
  const rooms = panel(page, 'rooms');
  const values = rooms.locator('tbody td.number');
  await expect(values).toHaveText([/^\d/, /^\d/]);
  await expect(rooms.locator('.panel-body')).not.toHaveAttribute('data-taken-over', '');
  release();
  await expect(rooms.locator('.panel-body')).toHaveAttribute('data-taken-over', '');
  await expect(values).toHaveText([/^\d/, /^\d/]);
  await context.close();
});

test('every kind of panel passes the WCAG A/AA checks in both themes, and its controls take the keyboard', async ({ browser }) => {
  for (const colorScheme of ['dark', 'light'] as const) {
    const context = await browser.newContext({ colorScheme });
    const page = await context.newPage();
    await open(page, '?compare=1h');
    await expect(panel(page, 'depth').getByTestId('stat-value')).toHaveText(/\d/);
    const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
    const violations = results.violations.map(
      (violation) => `${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
    );
    expect(violations).toEqual([]);
    // The full-screen control, from the keyboard; Escape goes back to the grid.
    await panel(page, 'rooms').locator('[data-action="full"]').focus();
    await page.keyboard.press('Enter');
    await expect(page.locator('[data-panel]')).toHaveCount(1);
    await page.keyboard.press('Escape');
    await expect(page.locator('[data-panel]')).toHaveCount(10);
    await context.close();
  }
});

test('pointing at one chart shows the time and values on every chart', async ({ page }) => {
  await open(page);
  const requests = panel(page, 'requests');
  await expect.poll(async () => Number(await requests.locator('figure').getAttribute('data-draws'))).toBeGreaterThan(1);
  await requests.locator('canvas').scrollIntoViewIfNeeded();
  const box = (await requests.locator('canvas').boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.7, box.y + box.height / 2);
  await expect(requests).toHaveAttribute('data-cursor-ts', /^\d{13}$/);
  const ts = await requests.getAttribute('data-cursor-ts');
  expect(Number(ts)).toBeGreaterThan(Date.now() - 60_000);
  for (const id of ['depth-area', 'temperatures', 'throughput', 'services', 'latency']) {
    await expect(panel(page, id)).toHaveAttribute('data-cursor-ts', ts!);
    await expect(panel(page, id).getByTestId('chart-readout')).toBeVisible();
  }
  await expect(panel(page, 'temperatures').getByTestId('chart-readout')).toContainText(/room=lab: \d/);
  await expect(panel(page, 'depth')).not.toHaveAttribute('data-cursor-ts', /.*/);
  await page.locator('.panel-title').first().hover();
  await expect(panel(page, 'latency')).not.toHaveAttribute('data-cursor-ts', /.*/);
});

test('a drag zooms every chart to its span; back to live returns, and back/forward walk the views', async ({ page }) => {
  await open(page);
  const dashboard = page.getByTestId('dashboard');
  const chart = panel(page, 'requests').locator('canvas');
  await expect.poll(async () => Number(await panel(page, 'requests').locator('figure').getAttribute('data-draws'))).toBeGreaterThan(1);
  await chart.scrollIntoViewIfNeeded();
  const box = (await chart.boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.6, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await expect(dashboard).toHaveAttribute('data-live', 'false');
  const url = new URL(page.url());
  const [from, to] = [Number(url.searchParams.get('from')), Number(url.searchParams.get('to'))];
  expect(to - from).toBeGreaterThan(2_000);
  expect(to - from).toBeLessThan(10_000);
  // Every chart draws the zoomed span, and stays there while data flows.
  for (const id of ['requests', 'temperatures', 'latency']) {
    await expect(panel(page, id).locator('figure')).toHaveAttribute('data-edge', String(to));
  }
  await page.waitForTimeout(600);
  await expect(panel(page, 'throughput').locator('figure')).toHaveAttribute('data-edge', String(to));
  await expect(page.getByTestId('zoom-span')).toBeVisible();
  // A zoomed chart is not drawn again while what it shows stays the same: the updates keep
  // coming (the seq its picture shows follows them), its draws do not.
  const zoomed = panel(page, 'temperatures').locator('figure');
  const [draws, seq] = [await zoomed.getAttribute('data-draws'), Number(await zoomed.getAttribute('data-drawn-seq'))];
  await expect.poll(async () => Number(await zoomed.getAttribute('data-drawn-seq'))).toBeGreaterThan(seq + 2);
  expect(await zoomed.getAttribute('data-draws')).toBe(draws);

  // The shared link opens the same view.
  const shared = await page.context().newPage();
  await shared.goto(page.url());
  await expect(shared.getByTestId('dashboard')).toHaveAttribute('data-live', 'false');
  await expect(panel(shared, 'requests').locator('figure')).toHaveAttribute('data-edge', String(to));
  await shared.close();

  await page.locator('[data-action="live"]').click();
  await expect(dashboard).toHaveAttribute('data-live', 'true');
  await expect.poll(async () => Number(await panel(page, 'requests').locator('figure').getAttribute('data-edge'))).toBeGreaterThan(to);
  expect(new URL(page.url()).searchParams.get('from')).toBeNull();
  // Back: the zoom again; forward: live again.
  await page.goBack();
  await expect(dashboard).toHaveAttribute('data-live', 'false');
  await expect(panel(page, 'requests').locator('figure')).toHaveAttribute('data-edge', String(to));
  await page.goForward();
  await expect(dashboard).toHaveAttribute('data-live', 'true');
  // Escape leaves a zoom too.
  await page.goBack();
  await expect(dashboard).toHaveAttribute('data-live', 'false');
  await page.keyboard.press('Escape');
  await expect(dashboard).toHaveAttribute('data-live', 'true');
});

test('a panel whose module cannot be fetched says so, and the rest of the page lives on', async ({ page }) => {
  // As when the network drops the moment a module is first needed: the query engine (the
  // requests panel's query) and the history requests (its compare with an hour ago).
  for (const module of ['split_query_engine', 'split_history_requests']) {
    await page.route(`**/pkg/${module}.wasm`, (route) => route.abort('connectionrefused'));
  }
  await open(page);
  await expect(panel(page, 'requests').locator('.panel-error')).toHaveText(
    'This part of the page could not be loaded: reload the page.',
  );
  const dashboard = page.getByTestId('dashboard');
  const seq = Number(await dashboard.getAttribute('data-seq'));
  await expect.poll(async () => Number(await dashboard.getAttribute('data-seq'))).toBeGreaterThan(seq + 1);
  await expect(panel(page, 'depth-area').locator('.panel-error')).toHaveCount(0);
});

test('compare draws the period an hour ago beside today, and the stat gives the delta', async ({ page }) => {
  // The requests panel compares with an hour ago by its configuration; the picker adds it to all.
  await open(page, '?range=5m');
  const requests = panel(page, 'requests').locator('figure');
  await expect.poll(async () => Number(await requests.getAttribute('data-compare'))).toBe(2);
  await page.getByRole('group', { name: 'Compare with' }).getByRole('button', { name: '1 h ago' }).click();
  expect(new URL(page.url()).searchParams.get('compare')).toBe('1h');
  await expect.poll(async () => Number(await panel(page, 'temperatures').locator('figure').getAttribute('data-compare'))).toBe(2);
  await expect(panel(page, 'depth').getByTestId('stat-delta')).toHaveText(/^[▲▼=] [\d.]+ vs 1 h ago$/);
});

test('a query panel previews a rule over its query and offers it as `expr`', async ({ page }) => {
  await open(page);
  const preview = new RulePreview(panel(page, 'requests').getByTestId('rule-preview'));
  await preview.open();
  // An hour ago code 200 ran at 25 a second and code 500 at 2 (`values`, one a second).
  await preview.crit.fill('0.5');
  await expect(preview.summary).toContainText(/would have fired [1-9]\d* times/);
  await expect(preview.toml).toContainText('expr = "sum by (code) (rate(http_requests_total[2s]))"');
  await expect(panel(page, 'requests').locator('figure')).toHaveAttribute('data-thresholds', '1');
});

test('panel= shows one panel alone, kiosk only the panels, and a wall screen rotates', async ({ page }) => {
  // Every panel kind drawn, redrawn and left breaks no rule of the page's CSP (plotters measured
  // a label's text with a styled <span>, which the policy refuses: `chart::backend`).
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { violations: string[] }).violations = seen;
    document.addEventListener('securitypolicyviolation', (event) => seen.push(`${event.violatedDirective} ${event.sourceFile}`));
  });
  const violations = () => page.evaluate(() => (window as unknown as { violations: string[] }).violations);
  await open(page, '?panel=latency');
  await expect(page.locator('[data-panel]')).toHaveCount(1);
  await expect(panel(page, 'latency')).toBeVisible();
  const alone = (await panel(page, 'latency').boundingBox())!;
  expect(alone.width).toBeGreaterThan(page.viewportSize()!.width * 0.8);
  await panel(page, 'latency').locator('[data-action="full"]').click();
  await expect(page.locator('[data-panel]')).toHaveCount(10);

  await open(page, '?kiosk');
  await expect(page.locator('[data-panel]')).toHaveCount(10);
  await expect(page.locator('.topbar')).toBeHidden();
  await expect(page.locator('.dashboard-header')).toHaveCount(0);
  await expect(page.locator('.cards')).toHaveCount(0);
  // The pointer hides once still.
  await page.mouse.move(200, 200);
  await expect(page.getByTestId('dashboard')).toHaveClass(/idle/, { timeout: 6_000 });
  await page.mouse.move(220, 220);
  await expect(page.getByTestId('dashboard')).not.toHaveClass(/idle/);

  await open(page, '?kiosk&rotate=2s&dashboards=wall,other');
  await expect(page).toHaveURL(/\/d\/other\?kiosk=1&rotate=2s&dashboards=wall%2Cother$/, { timeout: 6_000 });
  await expect(page.getByTestId('dashboard')).toHaveAttribute('data-dashboard', 'other');
  await expect(page).toHaveURL(/\/d\/wall\?/, { timeout: 6_000 });
  await expect(page.locator('[data-panel]')).toHaveCount(10);
  expect(await violations()).toEqual([]);
});

test('a panel exports the rows it shows as CSV and its chart as PNG', async ({ page }) => {
  await open(page);
  const requests = panel(page, 'requests');
  await expect.poll(async () => Number(await requests.locator('figure').getAttribute('data-points'))).toBeGreaterThan(8);
  // Zoomed, the rows shown stay put while the file is made.
  await requests.locator('canvas').scrollIntoViewIfNeeded();
  const box = (await requests.locator('canvas').boundingBox())!;
  await page.mouse.move(box.x + box.width * 0.2, box.y + box.height / 2);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width * 0.9, box.y + box.height / 2, { steps: 5 });
  await page.mouse.up();
  await expect(page.getByTestId('dashboard')).toHaveAttribute('data-live', 'false');
  await expect.poll(async () => Number(await requests.locator('figure').getAttribute('data-points'))).toBeGreaterThan(4);
  const drawn = Number(await requests.locator('figure').getAttribute('data-points'));
  const [csv] = await Promise.all([page.waitForEvent('download'), requests.locator('[data-action="csv"]').click()]);
  expect(csv.suggestedFilename()).toBe('requests.csv');
  const rows = readFileSync((await csv.path())!, 'utf8').trim().split('\r\n');
  expect(rows[0]).toBe('ts,series,value');
  expect(rows.length - 1).toBe(drawn);
  expect(rows.slice(1).every((row) => /^\d{13},"\{code=""(200|500)""\}",\d/.test(row))).toBe(true);

  const [png] = await Promise.all([page.waitForEvent('download'), requests.locator('[data-action="png"]').click()]);
  expect(png.suggestedFilename()).toBe('requests.png');
  const bytes = readFileSync((await png.path())!);
  expect(bytes.subarray(1, 4).toString()).toBe('PNG');
  // The query API says the same in CSV.
  const answer = await fetch(`${base}/api/v1/dashboards/wall/query?q=up&format=csv`);
  expect(answer.headers.get('content-type')).toContain('text/csv');
  expect((await answer.text()).split('\r\n')[0]).toBe('ts,series,value');
});

test('a panel whose series fall silent is marked stale, the others stay fresh', async ({ page }) => {
  await open(page);
  const silent = panel(page, 'sometimes');
  await expect(silent.getByTestId('panel-freshness')).toHaveText(/^updated \d s ago$/);
  await expect(silent).not.toHaveAttribute('data-stale', /.*/);
  sometimes = false;
  // Written every 250 ms: stale after three intervals, as soon as the clock ticks.
  await expect(silent).toHaveAttribute('data-stale', '', { timeout: 5_000 });
  await expect(silent.getByTestId('panel-freshness')).toHaveText(/^stale · updated \d+ s ago$/);
  await expect(panel(page, 'requests')).not.toHaveAttribute('data-stale', /.*/);
  await expect(page.getByTestId('dashboard')).toHaveAttribute('data-stale', 'false');
  sometimes = true;
  await expect(silent).not.toHaveAttribute('data-stale', /.*/, { timeout: 5_000 });
});
