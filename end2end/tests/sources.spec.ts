import { expect, test } from '@playwright/test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startServer, stopServer } from './fixtures/livedash_server';

// The dashboard list says where each dashboard's data comes from: the producers that fed it
// and how long ago, its series count, and the health of the targets scraped into it (one
// answering, one that cannot be reached).

const folder = mkdtempSync(path.join(tmpdir(), 'livedash-sources-'));
test.afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** A target serving the text format on a free port. */
async function target(): Promise<{ server: Server; url: string }> {
  const server = createServer((_, response) => {
    response.setHeader('Content-Type', 'text/plain; version=0.0.4');
    response.end('# TYPE jobs_processed_total counter\njobs_processed_total{queue="mail"} 42\nworkers 3\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return { server, url: `http://127.0.0.1:${address.port}/metrics` };
}

test('the list shows each dashboard’s producers, series and scraped targets', async ({ page, request }) => {
  const { server: exporter, url } = await target();
  const config = path.join(folder, 'livedash.toml');
  writeFileSync(
    config,
    `[[scrape]]\nurl = "${url}"\ndashboard = "jobs"\n\n[[scrape]]\nurl = "http://127.0.0.1:9/metrics"\ndashboard = "jobs"\ntimeout = "300ms"\n`,
  );
  const { server, port } = await startServer(['--host-metrics', 'false', '--simulator', 'false', '--persist', 'false', '--config', config]);
  try {
    const base = `http://127.0.0.1:${port}`;
    const pushed = await request.post(`${base}/api/v1/ingest`, { data: { dashboard: 'orders', metrics: { placed: 3 } } });
    expect(pushed.status()).toBe(202);
    await expect
      .poll(async () => ((await (await request.get(`${base}/api/v1/targets`)).json()) as { up: boolean | null }[]).map((t) => t.up))
      .toEqual([true, false]);
    await page.goto(`${base}/`);
    const jobs = page.locator('[data-dashboard="jobs"]');
    await expect(jobs.getByTestId('dashboard-sources')).toHaveText(/^\d+ series · from scrape, \d+ s ago$/);
    await expect(jobs.locator(`[data-target="${url}"]`)).toContainText(/^up .*scraped \d+ s ago$/);
    await expect(jobs.locator('[data-target="http://127.0.0.1:9/metrics"]')).toContainText('down');
    await expect(jobs.locator('[data-target="http://127.0.0.1:9/metrics"]')).toContainText('cannot reach the target');
    await expect(page.locator('[data-dashboard="orders"]').getByTestId('dashboard-sources')).toHaveText(
      /^1 series · from JSON, \d+ s ago$/,
    );
  } finally {
    await stopServer(server);
    exporter.close();
  }
});
