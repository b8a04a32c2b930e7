import { expect, test, type Locator } from '@playwright/test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, stopServer } from './fixtures/livedash_server';

// A live chart moves by whole pixel columns: it shifts the picture it drew and draws only its
// last columns (src/components/chart/shift.rs). What a person sees must be what drawing the
// chart whole shows: after a stream of shifted draws, a chart drawn whole again (the theme
// switched there and back) has the same pixels, give or take a vertex a column over.

const kinds = ['line', 'area', 'stacked', 'bar'];
const config = ['[[dashboards]]', 'id = "shift"', 'title = "Shifted"', ''];
kinds.forEach((kind, panel) => {
  config.push('[[dashboards.panels]]', `id = "p${panel}"`, `title = "${kind}"`, `kind = "${kind}"`);
  config.push(`query = 'wave{panel="${panel}"}'`, '');
});

/** The canvas' pixels, as RGBA bytes. */
const pixels = (canvas: Locator) =>
  canvas.evaluate((element: HTMLCanvasElement) =>
    Array.from(element.getContext('2d')!.getImageData(0, 0, element.width, element.height).data),
  );

test('a live chart shifted by whole columns shows what drawing it whole shows', async ({ page }) => {
  test.setTimeout(90_000);
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
  try {
    await page.setViewportSize({ width: 1400, height: 1000 });
    await feed();
    await page.goto(`${base}/d/shift`);
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    for (let i = 0; i < 50; i++) {
      await feed();
      await page.waitForTimeout(100);
    }
    const figures = kinds.map((_, panel) => page.locator(`[data-panel="p${panel}"] figure`));
    // The edge runs on for five seconds past the last update, then stops.
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
    const shifted: number[] = [];
    const shown: number[][] = [];
    const draws: number[] = [];
    for (const figure of figures) {
      shifted.push(Number(await figure.getAttribute('data-shifted')));
      draws.push(Number(await figure.getAttribute('data-draws')));
      shown.push(await pixels(figure.locator('canvas')));
      await figure.locator('canvas').screenshot({ path: `test-results/shift-${kinds[figures.indexOf(figure)]}-shifted.png` });
    }
    // Most draws of a live chart shifted (a new high or a changed y range draws it whole).
    shifted.forEach((count, panel) => expect(count, kinds[panel]).toBeGreaterThan(25));

    const toggle = page.getByTestId('theme-toggle');
    await toggle.click();
    await toggle.click();
    for (const [panel, figure] of figures.entries()) {
      await expect.poll(async () => Number(await figure.getAttribute('data-draws'))).toBeGreaterThanOrEqual(draws[panel] + 2);
      expect(Number(await figure.getAttribute('data-shifted')), 'a new theme is drawn whole').toBe(shifted[panel]);
      const whole = await pixels(figure.locator('canvas'));
      await figure.locator('canvas').screenshot({ path: `test-results/shift-${kinds[panel]}-whole.png` });
      expect(whole.length).toBe(shown[panel].length);
      let differing = 0;
      for (let i = 0; i < whole.length; i += 4) {
        const off = Math.max(...[0, 1, 2].map((c) => Math.abs(whole[i + c] - shown[panel][i + c])));
        if (off > 32) differing++;
      }
      const share = differing / (whole.length / 4);
      expect(share, `${kinds[panel]}: ${differing} pixels differ`).toBeLessThan(0.005);
    }
  } finally {
    await stopServer(server);
    rmSync(folder, { recursive: true, force: true });
  }
});
