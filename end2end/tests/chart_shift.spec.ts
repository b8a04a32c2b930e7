import { expect, test, type Locator, type Page } from '@playwright/test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, stopServer } from './fixtures/livedash_server';

// A live chart moves by whole pixel columns: it shifts the picture it drew and draws only its
// last columns (src/components/chart/shift.rs). What a person sees must be what drawing the
// chart whole shows: after a stream of shifted draws, a chart drawn whole again (the theme
// switched there and back) has the same pixels, give or take a vertex a column over. A zoom
// keeps the live picture off the page, and a return to live moves it by the time spent zoomed.

const kinds = ['line', 'area', 'stacked', 'bar'];
const config = ['[[dashboards]]', 'id = "shift"', 'title = "Shifted"', ''];
kinds.forEach((kind, panel) => {
  config.push('[[dashboards.panels]]', `id = "p${panel}"`, `title = "${kind}"`, `kind = "${kind}"`);
  config.push(`query = 'wave{panel="${panel}"}'`, '');
});

/** The canvas' pixels, as RGBA bytes, rows of `width`. */
type Pixels = { width: number; data: number[] };
const pixels = (canvas: Locator): Promise<Pixels> =>
  canvas.evaluate((element: HTMLCanvasElement) => ({
    width: element.width,
    data: Array.from(element.getContext('2d')!.getImageData(0, 0, element.width, element.height).data),
  }));

/** How many pixels of `drawn` show none of the colours `shown` has at the same place or a
 * column either side: a time falls on a column by rounding, so an edge (a line's vertex, a
 * bar's side) a picture moved by whole columns shows may sit a column over from where drawing
 * it whole puts it. */
function differing(drawn: Pixels, shown: Pixels) {
  let count = 0;
  const row = drawn.width * 4;
  for (let i = 0; i < drawn.data.length; i += 4) {
    const column = (i % row) / 4;
    const near = [-1, 0, 1].filter((dx) => column + dx >= 0 && column + dx < drawn.width);
    const off = (j: number) => Math.max(...[0, 1, 2].map((c) => Math.abs(drawn.data[i + c] - shown.data[j + c])));
    if (Math.min(...near.map((dx) => off(i + 4 * dx))) > 32) count++;
  }
  return count;
}

/** A server with the four panels, fed by `feed` (four waves a panel, one step a call). */
async function shiftServer() {
  const folder = mkdtempSync(path.join(tmpdir(), 'livedash-shift-'));
  const file = path.join(folder, 'livedash.toml');
  writeFileSync(file, config.join('\n'));
  const { server, port } = await startServer(['--host-metrics', 'false', '--simulator', 'false', '--persist', 'false', '--config', file]);
  const base = `http://127.0.0.1:${port}`;
  let tick = 0;
  const feed = async () => {
    tick += 1;
    const values: Record<string, number> = {};
    kinds.forEach((_, panel) => {
      for (let series = 0; series < 4; series++) values[`wave{panel="${panel}",series="${series}"}`] = 20 + 15 * Math.sin((tick + 5 * series) / 6) + series;
    });
    await fetch(`${base}/api/v1/ingest`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dashboard: 'shift', metrics: values }) });
  };
  const stop = async () => {
    await stopServer(server);
    rmSync(folder, { recursive: true, force: true });
  };
  return { base, feed, stop };
}

/** Each panel's draws and shifted draws so far. */
const drawCounts = async (figures: Locator[]) =>
  Promise.all(figures.map(async (figure) => [Number(await figure.getAttribute('data-draws')), Number(await figure.getAttribute('data-shifted'))]));

/** Waits until every chart's edge stopped (it runs on for five seconds past the last update). */
async function edgesStopped(page: Page, figures: Locator[]) {
  for (const figure of figures) {
    await expect(figure).toHaveAttribute('data-series', '4');
    let edge = '';
    await expect
      .poll(async () => {
        const [before] = [await figure.getAttribute('data-edge')];
        await page.waitForTimeout(700);
        const still = before === (await figure.getAttribute('data-edge')) && before === edge;
        edge = before ?? '';
        return still;
      }, { timeout: 20_000 })
      .toBe(true);
  }
}

/** Switches the theme there and back, so every chart is drawn whole, and checks each shows
 * what it showed (`shown`, its pixels before) give or take an edge a column over. */
async function sameAsDrawnWhole(page: Page, figures: Locator[], shown: Pixels[], name: string) {
  const before = await drawCounts(figures);
  const toggle = page.getByTestId('theme-toggle');
  await toggle.click();
  await toggle.click();
  for (const [panel, figure] of figures.entries()) {
    await expect.poll(async () => Number(await figure.getAttribute('data-draws'))).toBeGreaterThanOrEqual(before[panel][0] + 2);
    expect(Number(await figure.getAttribute('data-shifted')), 'a new theme is drawn whole').toBe(before[panel][1]);
    const whole = await pixels(figure.locator('canvas'));
    await figure.locator('canvas').screenshot({ path: `test-results/${name}-${kinds[panel]}-whole.png` });
    expect([whole.width, whole.data.length]).toEqual([shown[panel].width, shown[panel].data.length]);
    const count = differing(whole, shown[panel]);
    const share = count / (whole.data.length / 4);
    expect(share, `${kinds[panel]}: ${count} pixels differ`).toBeLessThan(0.002);
  }
}

/** The page on the fed dashboard, after five seconds of updates; its four chart figures. */
async function openFed(page: Page, base: string, feed: () => Promise<void>) {
  await page.setViewportSize({ width: 1400, height: 1000 });
  await feed();
  await page.goto(`${base}/d/shift`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  for (let i = 0; i < 50; i++) {
    await feed();
    await page.waitForTimeout(100);
  }
  return kinds.map((_, panel) => page.locator(`[data-panel="p${panel}"] figure`));
}

test('a live chart shifted by whole columns shows what drawing it whole shows', async ({ page }) => {
  test.setTimeout(90_000);
  const { base, feed, stop } = await shiftServer();
  try {
    const figures = await openFed(page, base, feed);
    await edgesStopped(page, figures);
    const shown: Pixels[] = [];
    for (const [panel, figure] of figures.entries()) {
      shown.push(await pixels(figure.locator('canvas')));
      await figure.locator('canvas').screenshot({ path: `test-results/shift-${kinds[panel]}-shifted.png` });
    }
    // Most draws of a live chart shifted (a new high or a changed y range draws it whole).
    (await drawCounts(figures)).forEach(([, shifted], panel) => expect(shifted, kinds[panel]).toBeGreaterThan(25));
    await sameAsDrawnWhole(page, figures, shown, 'shift');
  } finally {
    await stop();
  }
});

test('back to live after a zoom moves the live picture kept aside, and shows what drawing it whole shows', async ({ page }) => {
  test.setTimeout(90_000);
  const { base, feed, stop } = await shiftServer();
  try {
    const figures = await openFed(page, base, feed);
    // A move after the last update: the ring off the page holds the live picture.
    await page.waitForTimeout(1_200);
    // A drag zooms every chart into the last seconds; the live edge moves on meanwhile.
    const canvas = figures[0].locator('canvas');
    await canvas.scrollIntoViewIfNeeded();
    const box = (await canvas.boundingBox())!;
    await page.mouse.move(box.x + box.width * 0.85, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width * 0.97, box.y + box.height / 2, { steps: 5 });
    await page.mouse.up();
    const dashboard = page.getByTestId('dashboard');
    await expect(dashboard).toHaveAttribute('data-live', 'false');
    const to = new URL(page.url()).searchParams.get('to');
    for (const figure of figures) await expect(figure).toHaveAttribute('data-edge', String(to));
    await page.waitForTimeout(1_500);
    const zoomed = await drawCounts(figures);

    await page.locator('[data-action="live"]').click();
    await expect(dashboard).toHaveAttribute('data-live', 'true');
    await edgesStopped(page, figures);
    // Every draw since the zoom moved the kept picture: the return too, not drawn whole.
    const returned = await drawCounts(figures);
    returned.forEach(([draws, shifted], panel) => {
      expect(draws, kinds[panel]).toBeGreaterThan(zoomed[panel][0]);
      expect(shifted - zoomed[panel][1], `${kinds[panel]}: draws since the zoom that shifted`).toBe(draws - zoomed[panel][0]);
    });
    const shown: Pixels[] = [];
    for (const [panel, figure] of figures.entries()) {
      shown.push(await pixels(figure.locator('canvas')));
      await figure.locator('canvas').screenshot({ path: `test-results/return-${kinds[panel]}-shifted.png` });
    }
    await sameAsDrawnWhole(page, figures, shown, 'return');
  } finally {
    await stop();
  }
});
