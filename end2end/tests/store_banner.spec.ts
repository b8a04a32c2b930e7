import { expect, test } from '@playwright/test';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DashboardPage } from './fixtures/dashboard_page';
import { startServer, stopServer } from './fixtures/livedash_server';

/** One ingest of `count` new metrics on a dashboard of its own: about 100 bytes of store each. */
function wideUpdate(batch: number, count: number) {
  const metrics: Record<string, number> = {};
  for (let i = 0; i < count; i++) metrics[`m${batch}_${i}`] = i;
  return { dashboard: 'filler', metrics };
}

// A full disk, for real (as tests/it/store_full.rs makes one): the store on a 1 MiB tmpfs that
// fills up, then grows. Mounting needs root, as CI and this project's machines run.
test('a full history store puts a banner on the open dashboard, which goes once there is room again', async ({ page, request }) => {
  const disk = mkdtempSync(path.join(tmpdir(), 'livedash-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk]);
  const { server, port } = await startServer([
    '--host-metrics', 'false',
    '--data', path.join(disk, 'store.sqlite'),
    '--max-metrics-per-dashboard', '1000000',
  ]);
  try {
    const base = `http://127.0.0.1:${port}`;
    expect((await request.post(`${base}/api/v1/ingest`, { data: { dashboard: 'shop', metrics: { x: 1 } } })).status()).toBe(202);
    const dashboard = new DashboardPage(page, 'shop');
    await dashboard.goto({ base });
    await expect(dashboard.badge).toHaveText('live');
    await expect(dashboard.storeBanner).toHaveCount(0);

    let status = 202;
    for (let batch = 0; batch < 400 && status === 202; batch++) {
      status = (await request.post(`${base}/api/v1/ingest`, { data: wideUpdate(batch, 500) })).status();
    }
    expect(status, 'a 1 MiB disk fills up').toBe(503);
    // The page asks every 5 s.
    await expect(dashboard.storeBanner).toContainText('The history store cannot write', { timeout: 12_000 });
    await expect(dashboard.storeBanner).toContainText('not saved or shown');

    execFileSync('mount', ['-o', 'remount,size=64m', disk]);
    await expect(dashboard.storeBanner).toHaveCount(0, { timeout: 30_000 });
  } finally {
    await stopServer(server);
    execFileSync('umount', ['-l', disk]);
    rmSync(disk, { recursive: true, force: true });
  }
});
