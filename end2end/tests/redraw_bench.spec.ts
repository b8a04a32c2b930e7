import { expect, test } from '@playwright/test';

// The chart redraw benchmark page (/bench/redraw). `make test` runs it small so it cannot rot;
// `make bench-redraw` (REDRAW_BENCH=1) runs the sizes BENCHMARKS.md records and prints them.
const full = process.env.REDRAW_BENCH === '1';
const cases: [charts: number, points: number, rounds: number][] = full
  ? [
      [6, 300, 120],
      [6, 100_000, 60],
    ]
  : [
      [6, 300, 5],
      [2, 100_000, 3],
    ];

for (const [charts, points, rounds] of cases) {
  test(`redraw of ${charts} charts x ${points} points`, async ({ page }) => {
    test.setTimeout(120_000);
    await page.setViewportSize({ width: 1280, height: 900 });
    await page.goto(`/bench/redraw?charts=${charts}&points=${points}&rounds=${rounds}`);
    const bench = page.getByTestId('redraw-bench');
    await expect(bench).toHaveAttribute('data-done', 'true', { timeout: 100_000 });
    const figure = async (name: string) => Number(await bench.getAttribute(`data-${name}`));
    const [median, p95, max] = [await figure('median-ms'), await figure('p95-ms'), await figure('max-ms')];
    console.log(`redraw ${charts} charts x ${points} points, ${rounds} rounds: median ${median} ms, p95 ${p95} ms, max ${max} ms`);
    expect(median).toBeGreaterThan(0);
    expect(max).toBeGreaterThanOrEqual(p95);

    // Decimation keeps what is drawn bounded by the canvas width, however long the series.
    const widths = await page.locator('canvas').evaluateAll((canvases) => canvases.map((c) => (c as HTMLCanvasElement).width));
    expect(widths).toHaveLength(charts);
    const drawn = await figure('drawn-points');
    const bound = widths.reduce((sum, width) => sum + 4 * width + 1, 0);
    expect(drawn).toBeGreaterThan(0);
    expect(drawn).toBeLessThanOrEqual(Math.min(bound, charts * points));
    await page.screenshot({ path: `test-results/redraw-${charts}x${points}.png` });
    // A panel's query over 1,000 live series, in WASM.
    await expect(bench).toHaveAttribute('data-query-all-us', /\d/, { timeout: 60_000 });
    const [all, one] = [await figure('query-all-us'), await figure('query-one-us')];
    console.log(`query over 1,000 live series in WASM: ${all} µs an update carrying all, ${one} µs carrying one`);
    expect(all).toBeGreaterThan(0);
  });
}
