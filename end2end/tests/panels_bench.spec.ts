import { expect, test, type CDPSession, type Page } from '@playwright/test';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, stopServer } from './fixtures/livedash_server';

// The panels benchmark (BENCHMARKS.md "Panels", `make bench-panels`): 12 panels x 10 series,
// each a query evaluated in the browser, at 10 updates a second in headless Chromium for
// PANELS_BENCH_SECONDS (600): the main thread's busy share of a core and the JS heap plus the
// WASM memory, per minute (CDP `Performance.getMetrics`); then the time from a pointer move to
// the frame that shows the crosshair on all 12 charts, and from a drag's release to the frame
// that shows all 12 zoomed, and from the "back to live" control to the frame that shows them
// live (each the median of 40 crosshair moves, of PANELS_BENCH_ZOOMS (40) zooms and returns,
// every event's figures kept in test-results/panels-bench.json). `make test` runs it for 20
// seconds so it cannot rot (PANELS_BENCH unset).

const full = process.env.PANELS_BENCH === '1';
const seconds = Number(process.env.PANELS_BENCH_SECONDS ?? (full ? 600 : 20));
const kinds = ['line', 'area', 'stacked', 'bar', 'line', 'status', 'line', 'area', 'stacked', 'bar', 'line', 'line'];

const config = ['[[dashboards]]', 'id = "bench"', 'title = "Panels benchmark"', ''];
kinds.forEach((kind, panel) => {
  config.push('[[dashboards.panels]]', `id = "p${panel}"`, `title = "Panel ${panel}"`, `kind = "${kind}"`);
  config.push(`query = 'bench{panel="${panel}"}'`, '');
});

async function metrics(cdp: CDPSession): Promise<Record<string, number>> {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return Object.fromEntries(metrics.map((m: { name: string; value: number }) => [m.name, m.value]));
}

/** With PANELS_BENCH_PROFILE=1 (steady state), =zoom or =live (a live /d/main, after its
 *  measured span): a CDP CPU profile of `during`, printed
 *  as the functions with the most self time (names show on a WASM built with its name section
 *  kept). */
async function profile(cdp: CDPSession, during: () => Promise<unknown>) {
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 200 });
  await cdp.send('Profiler.start');
  await during();
  const { profile } = await cdp.send('Profiler.stop');
  // Kept whole for other readings (Chromium's DevTools open it too).
  writeFileSync('test-results/panels-bench.cpuprofile', JSON.stringify(profile));
  type Node = { id: number; callFrame: { functionName: string; url: string }; hitCount?: number; children?: number[] };
  const nodes = profile.nodes as Node[];
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const total = nodes.reduce((sum, node) => sum + (node.hitCount ?? 0), 0);
  const nameOf = (node: Node) => `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.split('/').pop()}`;
  const selfTime = new Map<string, number>();
  const totalTime = new Map<string, number>();
  // Depth first, each name counted once per stack (recursion does not count twice).
  const walk = (node: Node, onStack: Set<string>): number => {
    const name = nameOf(node);
    let hits = node.hitCount ?? 0;
    selfTime.set(name, (selfTime.get(name) ?? 0) + hits);
    const inner = new Set(onStack).add(name);
    for (const child of node.children ?? []) hits += walk(byId.get(child)!, inner);
    if (!onStack.has(name)) totalTime.set(name, (totalTime.get(name) ?? 0) + hits);
    return hits;
  };
  walk(nodes[0], new Set());
  const show = (title: string, times: Map<string, number>) => {
    console.log(title);
    const top = [...times.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40);
    for (const [name, hits] of top) console.log(`${((100 * hits) / total).toFixed(1).padStart(5)}%  ${name.slice(0, 150)}`);
  };
  // PANELS_BENCH_FOCUS=<regex>: the total time of what the matching functions call.
  const focus = process.env.PANELS_BENCH_FOCUS;
  if (focus) {
    const callees = new Map<string, number>();
    const inside = (node: Node): number =>
      (node.hitCount ?? 0) + (node.children ?? []).reduce((sum, child) => sum + inside(byId.get(child)!), 0);
    const find = (node: Node) => {
      if (new RegExp(focus).test(nameOf(node))) {
        for (const child of node.children ?? []) {
          const callee = byId.get(child)!;
          callees.set(nameOf(callee), (callees.get(nameOf(callee)) ?? 0) + inside(callee));
        }
        callees.set('(self)', (callees.get('(self)') ?? 0) + (node.hitCount ?? 0));
      } else (node.children ?? []).forEach((child) => find(byId.get(child)!));
    };
    find(nodes[0]);
    show(`called by ${focus}`, callees);
  }
  show('self time', selfTime);
  show('total time (with callees)', totalTime);
}

const wasmBytes = (page: Page) => page.evaluate(() => (window as unknown as { livedashWasmBytes: () => number }).livedashWasmBytes());

/** What `act` (run in the page) costs, the median of `count`: `work`, the main thread's time in
 *  its handlers and effects, plus, when it caused a drawing pass, the time from that pass's
 *  start to the next frame callback (the pass and the effects it woke, which run before any
 *  later callback); `drawings`, the passes alone; `frame`, the time until the frame after it
 *  ended (its drawing done), which includes waiting for that frame. `prepare` runs two
 *  frames before each `act`, not timed: what a person does frames earlier (a drag's press
 *  and moves before its release). */
async function frameTimes(
  page: Page,
  act: string,
  count: number,
  prepare = '',
): Promise<{ work: number; frame: number; works: number[]; drawings: number[]; handlers: number[] }> {
  return page.evaluate(
    async ([act, count, prepare]) => {
      const passes = () => (window as unknown as { livedashDrawPasses: () => [number, number, number] }).livedashDrawPasses();
      const works: number[] = [];
      const drawings: number[] = [];
      const handlers: number[] = [];
      const frames: number[] = [];
      const frame = () => new Promise<number>((resolve) => requestAnimationFrame(() => resolve(performance.now())));
      const run = new Function('i', act as string) as (i: number) => void;
      const before = new Function('i', prepare as string) as (i: number) => void;
      for (let i = 0; i < (count as number); i++) {
        await frame();
        before(i);
        // Two frames: the page laid out and painted what `prepare` changed, as it would be by
        // the time a person acts again.
        await frame();
        await frame();
        const [passesBefore, drawnBefore] = passes();
        const started = performance.now();
        run(i);
        // Let the effects the event woke run (they are queued as microtasks).
        await new Promise((resolve) => queueMicrotask(() => resolve(null)));
        await Promise.resolve();
        const handled = performance.now();
        // Taken in a frame callback queued after the app's: its pass and what that woke are done.
        const painted = await frame();
        const [passesAfter, drawnAfter, passStarted] = passes();
        works.push(handled - started + (passesAfter > passesBefore ? painted - passStarted : 0));
        drawings.push(drawnAfter - drawnBefore);
        handlers.push(handled - started);
        frames.push(painted - started);
      }
      const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
      return { work: median(works), frame: median(frames), works, drawings, handlers };
    },
    [act, count, prepare] as const,
  );
}

test('12 panels x 10 series at 10 updates a second: CPU, memory, crosshair and zoom', async ({ page }) => {
  test.setTimeout((seconds + 180) * 1000);
  const folder = mkdtempSync(path.join(tmpdir(), 'livedash-panels-bench-'));
  const file = path.join(folder, 'livedash.toml');
  writeFileSync(file, config.join('\n'));
  const { server, port } = await startServer(['--host-metrics', 'false', '--simulator', 'false', '--persist', 'false', '--config', file]);
  const base = `http://127.0.0.1:${port}`;
  let tick = 0;
  const feeder = setInterval(() => {
    tick += 1;
    const values: Record<string, number> = {};
    for (let panel = 0; panel < 12; panel++) {
      for (let series = 0; series < 10; series++) {
        values[`bench{panel="${panel}",series="${series}"}`] = 50 + 40 * Math.sin((tick + series * 7 + panel) / 20) + Math.random() * 5;
      }
    }
    fetch(`${base}/api/v1/ingest`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ dashboard: 'bench', metrics: values }) }).catch(() => {});
  }, 100);
  try {
    await page.setViewportSize({ width: 1600, height: 1200 });
    await page.goto(`${base}/d/bench`);
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    await expect.poll(async () => Number(await page.locator('[data-panel="p11"] figure').getAttribute('data-series'))).toBe(10);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
    const samples: { at: number; busy: number; script: number; layout: number; style: number; heap: number; wasm: number }[] = [];
    const sample = async () => {
      const m = await metrics(cdp);
      samples.push({
        at: m.Timestamp,
        busy: m.TaskDuration,
        script: m.ScriptDuration,
        layout: m.LayoutDuration,
        style: m.RecalcStyleDuration,
        heap: m.JSHeapUsedSize,
        wasm: await wasmBytes(page),
      });
    };
    await sample();
    const every = Math.min(60, Math.max(5, seconds / 4));
    for (let elapsed = 0; elapsed < seconds; elapsed += every) {
      await page.waitForTimeout(every * 1000);
      await sample();
    }
    const rows = samples.slice(1).map((s, i) => {
      const before = samples[i];
      const wall = s.at - before.at;
      return {
        until_s: Math.round(s.at - samples[0].at),
        cpu_percent: Number(((100 * (s.busy - before.busy)) / wall).toFixed(1)),
        script_percent: Number(((100 * (s.script - before.script)) / wall).toFixed(1)),
        layout_style_percent: Number(((100 * (s.layout - before.layout + s.style - before.style)) / wall).toFixed(1)),
        js_heap_mb: Number((s.heap / 1e6).toFixed(1)),
        wasm_mb: Number((s.wasm / 1e6).toFixed(1)),
      };
    });
    console.table(rows);
    if (process.env.PANELS_BENCH_PROFILE === '1') await profile(cdp, () => page.waitForTimeout(15_000));
    const whole = samples[samples.length - 1];
    const cpu = (100 * (whole.busy - samples[0].busy)) / (whole.at - samples[0].at);
    console.log(`main thread over ${seconds} s: ${cpu.toFixed(1)}% of a core; updates drawn: seq ${await page.getByTestId('dashboard').getAttribute('data-seq')}`);
    // How many draws only shifted the picture and drew its last columns (chart/shift.rs).
    const draws = await page.locator('[data-panel] figure').evaluateAll((figures) =>
      figures.map((figure) => [Number(figure.getAttribute('data-draws')), Number(figure.getAttribute('data-shifted'))]),
    );
    const [drawn, shifted] = draws.reduce(([a, b], [draws, shifts]) => [a + draws, b + shifts], [0, 0]);
    console.log(`draws: ${drawn}, of which shifted: ${shifted} (per chart: ${draws.map(([, s]) => s).join(' ')})`);

    // The crosshair: a pointer move over the first chart, until every chart shows it.
    await page.locator('[data-panel="p0"] canvas').scrollIntoViewIfNeeded();
    const crosshair = await frameTimes(
      page,
      `const c = document.querySelector('[data-panel="p0"] canvas'); const r = c.getBoundingClientRect();
       c.dispatchEvent(new PointerEvent('pointermove', { bubbles: true, clientX: r.left + 80 + (i % 20) * 20, clientY: r.top + 60 }));`,
      40,
    );
    const cursors = await page.locator('[data-cursor-ts]').count();
    // A zoom: a drag's release (and back to live every other time), until every chart redrew.
    // The press and the move across come two frames before, as a person's do (timed with the
    // release until 2026-12-05: two crosshair moves more in the zoom's figure).
    const pointer = `const c = document.querySelector('[data-panel="p0"] canvas'); const r = c.getBoundingClientRect();
       const at = (x) => ({ bubbles: true, button: 0, clientX: r.left + x, clientY: r.top + 60 });`;
    const zooming = (count: number) => frameTimes(
      page,
      `${pointer}
       if (i % 2) { document.querySelector('[data-action="live"]')?.click(); return; }
       c.dispatchEvent(new PointerEvent('pointerup', at(300)));`,
      count,
      `${pointer}
       if (i % 2) return;
       c.dispatchEvent(new PointerEvent('pointerdown', at(100)));
       c.dispatchEvent(new PointerEvent('pointermove', at(300)));`,
    );
    const shiftedSoFar = () => page.locator('[data-panel] figure').evaluateAll((figures) =>
      figures.reduce((sum, figure) => sum + Number(figure.getAttribute('data-shifted')), 0));
    const shiftedBefore = await shiftedSoFar();
    const zoom = await zooming(Number(process.env.PANELS_BENCH_ZOOMS ?? 40));
    // A return moves the live picture kept through the zoom (canvas.rs, `Shifting`) unless
    // something it shows changed meanwhile; a zoom is drawn whole.
    const returnsShifted = (await shiftedSoFar()) - shiftedBefore;
    if (process.env.PANELS_BENCH_PROFILE === 'zoom') await profile(cdp, () => zooming(200));
    // The zooms (even) and the returns to live (odd) apart.
    const medianOf = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
    const [zoomsOnly, returns] = [0, 1].map((parity) => medianOf(zoom.works.filter((_, i) => i % 2 === parity)));
    const [zoomsDrawing, returnsDrawing] = [0, 1].map((parity) => medianOf(zoom.drawings.filter((_, i) => i % 2 === parity)));
    const [zoomsHandling, returnsHandling] = [0, 1].map((parity) => medianOf(zoom.handlers.filter((_, i) => i % 2 === parity)));
    console.log(
      `crosshair on ${cursors} charts: median ${crosshair.work.toFixed(2)} ms of work, ${crosshair.frame.toFixed(1)} ms to the next frame; ` +
        `zoom or back to live on 12 charts: median ${zoom.work.toFixed(2)} ms of work (zooms ${zoomsOnly.toFixed(2)}, ` +
        `returns to live ${returns.toFixed(2)}; of which drawing ${zoomsDrawing.toFixed(2)} and ${returnsDrawing.toFixed(2)}, ` +
        `the event's handler and the effects it woke ${zoomsHandling.toFixed(2)} and ${returnsHandling.toFixed(2)}), ` +
        `${zoom.frame.toFixed(1)} ms to the next frame; ${returnsShifted} chart draws shifted during them`,
    );
    const figures = {
      seconds,
      cpu,
      rows,
      // Each event's figures kept, so that runs can be pooled.
      crosshair,
      zoom: {
        ...zoom,
        zoomsOnly,
        returns,
        zoomsDrawing,
        returnsDrawing,
        zoomsHandling,
        returnsHandling,
        returnsShifted,
      },
    };
    writeFileSync('test-results/panels-bench.json', JSON.stringify(figures, null, 2));
    expect(cursors).toBe(12);
    expect(rows.length).toBeGreaterThan(0);
  } finally {
    clearInterval(feeder);
    await stopServer(server);
    rmSync(folder, { recursive: true, force: true });
  }
});

/** CPU seconds of every Chromium process (the renderer's other threads, the GPU process and
 *  the browser included, which `TaskDuration` leaves out), from /proc. */
function chromiumCpuSeconds(): number {
  let ticks = 0;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
      if (!/^(chrom|headless_shell)/.test(name)) continue;
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15)
    } catch {
      // A process that ended meanwhile.
    }
  }
  return ticks / 100; // USER_HZ
}

// Issue 27: what a live dashboard costs the browser, `/d/main` fed by the server's own
// simulator and host metrics (the default dashboard of `make run`), over LIVE_SECONDS (120
// under PANELS_BENCH, 10 in `make test`).
test('a live /d/main: the browser share of a core', async ({ page }) => {
  const liveSeconds = Number(process.env.LIVE_SECONDS ?? (full ? 120 : 10));
  test.setTimeout(((process.env.PANELS_BENCH_PROFILE === 'live' ? 3 : 2) * liveSeconds + 60) * 1000);
  const { server, port } = await startServer(['--persist', 'false']);
  try {
    await page.setViewportSize({ width: 1600, height: 1200 });
    // Chromium's own floor: the same processes showing a blank page for as long.
    await page.goto('about:blank');
    const blankBefore = chromiumCpuSeconds();
    await page.waitForTimeout(liveSeconds * 1000);
    const blank = (100 * (chromiumCpuSeconds() - blankBefore)) / liveSeconds;
    await page.goto(`http://127.0.0.1:${port}/d/main`);
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.locator('[data-panel] canvas').first()).toBeVisible();
    // Let the first history and the window fill before measuring.
    await page.waitForTimeout(5000);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
    const [before, chromeBefore] = [await metrics(cdp), chromiumCpuSeconds()];
    await page.waitForTimeout(liveSeconds * 1000);
    const [after, chromeAfter] = [await metrics(cdp), chromiumCpuSeconds()];
    const wall = after.Timestamp - before.Timestamp;
    const share = (key: string) => (100 * (after[key] - before[key])) / wall;
    const live = {
      seconds: Math.round(wall),
      main_thread_percent: Number(share('TaskDuration').toFixed(1)),
      script_percent: Number(share('ScriptDuration').toFixed(1)),
      layout_style_percent: Number((share('LayoutDuration') + share('RecalcStyleDuration')).toFixed(1)),
      chromium_processes_percent: Number(((100 * (chromeAfter - chromeBefore)) / wall).toFixed(1)),
      chromium_processes_blank_page_percent: Number(blank.toFixed(1)),
      panels: await page.locator('[data-panel]').count(),
    };
    console.log(`a live /d/main: ${JSON.stringify(live)}`);
    writeFileSync('test-results/live-dashboard.json', JSON.stringify(live, null, 2));
    if (process.env.PANELS_BENCH_PROFILE === 'live') await profile(cdp, () => page.waitForTimeout(liveSeconds * 1000));
    expect(live.panels).toBeGreaterThan(0);
    expect(after.TaskDuration).toBeGreaterThan(before.TaskDuration);
  } finally {
    await stopServer(server);
  }
});

// The floor under the panels benchmark: the same page size and 12 canvases of a chart's size,
// each changed ten times a second as little as a canvas can change (a three-pixel strip filled,
// or the plot copied from a canvas off the page as `chart::canvas::Shifting` does), nothing else
// on the page. What the main thread spends on that is Chromium's own work of showing 12 changed
// canvases (software compositing here, `--disable-gpu`), which no drawing code can save.
// FLOOR_SECONDS (30 under PANELS_BENCH, 3 in `make test`).
test('the floor: 12 canvases changed ten times a second', async ({ page }) => {
  const floorSeconds = Number(process.env.FLOOR_SECONDS ?? (full ? 30 : 3));
  test.setTimeout((2 * floorSeconds + 60) * 1000);
  await page.setViewportSize({ width: 1600, height: 1200 });
  const figures: Record<string, number> = {};
  for (const mode of ['strip', 'copy']) {
    await page.setContent(`<style>body { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin: 8px; }
      canvas { width: 100%; height: 180px; display: block; margin-bottom: 90px; }</style>` + '<canvas></canvas>'.repeat(12));
    await page.evaluate((mode) => {
      const canvases = [...document.querySelectorAll('canvas')];
      const ring = document.createElement('canvas');
      for (const canvas of canvases) {
        canvas.width = canvas.clientWidth;
        canvas.height = canvas.clientHeight;
      }
      ring.width = 2 * canvases[0].width;
      ring.height = canvases[0].height;
      ring.getContext('2d', { alpha: false })!.fillRect(0, 0, ring.width, ring.height);
      let tick = 0;
      setInterval(() => requestAnimationFrame(() => {
        tick += 1;
        for (const canvas of canvases) {
          const context = canvas.getContext('2d')!;
          if (mode === 'copy') context.drawImage(ring, tick % 100, 0, canvas.width - 80, canvas.height, 60, 0, canvas.width - 80, canvas.height);
          context.fillStyle = tick % 2 ? '#336' : '#633';
          context.fillRect((tick * 3) % canvas.width, 10, 3, canvas.height - 30);
        }
      }), 100);
    }, mode);
    await page.waitForTimeout(1000);
    const cdp = await page.context().newCDPSession(page);
    await cdp.send('Performance.enable', { timeDomain: 'timeTicks' });
    const before = await metrics(cdp);
    await page.waitForTimeout(floorSeconds * 1000);
    const after = await metrics(cdp);
    figures[`${mode}_main_thread_percent`] = Number(((100 * (after.TaskDuration - before.TaskDuration)) / (after.Timestamp - before.Timestamp)).toFixed(1));
    await cdp.detach();
  }
  console.log(`the floor, 12 canvases changed ten times a second: ${JSON.stringify(figures)}`);
  writeFileSync('test-results/canvas-floor.json', JSON.stringify(figures, null, 2));
  expect(figures.strip_main_thread_percent).toBeGreaterThan(0);
});
