import { expect, type Page, test } from '@playwright/test';
import { appendFileSync, cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DashboardPage } from './fixtures/dashboard_page';
import { RestartableServer, root } from './fixtures/livedash_server';

// A server of this test's own serving a copy of the built site, so that the test can deploy
// "another build" (the same files, one changed) on the same port while a page stays open.
const site = mkdtempSync(path.join(tmpdir(), 'livedash-redeploy-'));
cpSync(path.join(root, 'target', 'site'), site, { recursive: true });
const server = new RestartableServer(['--host-metrics', 'false', '--persist', 'false', '--site-root', site]);

/** Marks the page's document, to tell it from the next one the page loads. */
async function markDocument(page: Page) {
  await page.evaluate(() => ((window as unknown as { openedBefore: boolean }).openedBefore = true));
}

/**
 * Whether the page still shows the marked document; `null` while it is between two (its
 * script context is being replaced), which the caller polls through.
 */
async function openedBefore(page: Page): Promise<boolean | null> {
  return page
    .evaluate(() => (window as unknown as { openedBefore?: boolean }).openedBefore === true)
    .catch(() => null);
}

test.afterAll(() => rmSync(site, { recursive: true, force: true }));

test('a page open across a redeploy loads the new build by itself once it reconnects', async ({ page }) => {
  await server.start();
  try {
    const dashboard = new DashboardPage(page, 'main');
    await dashboard.goto({ base: server.base, params: { heartbeatMs: 1000, window: '5m' } });
    await expect(dashboard.badge).toHaveText('live');
    const build = page.locator('meta[name="livedash-build"]');
    const before = await build.getAttribute('content');
    expect(before).toMatch(/^[0-9a-f]{16}$/);
    await markDocument(page);

    await server.stop();
    await expect(dashboard.banner).toBeVisible();
    appendFileSync(path.join(site, 'pkg', 'livedash.css'), '\n/* the next build */\n');
    await server.start();

    // Loaded again from the server: a new document, of the new build, with the same view.
    await expect.poll(() => openedBefore(page), { timeout: 15_000 }).toBe(false);
    await expect(build).not.toHaveAttribute('content', before!);
    await expect(page).toHaveURL(/\/d\/main\?.*window=5m/);
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    await expect(dashboard.badge).toHaveText('live');
  } finally {
    await server.stop();
  }
});

test('a page with a rule preview open waits for it to close before it loads the new build', async ({ page }) => {
  await server.start();
  try {
    const dashboard = new DashboardPage(page, 'main');
    await dashboard.goto({ base: server.base, params: { heartbeatMs: 1000 } });
    await expect(dashboard.badge).toHaveText('live');
    const build = page.locator('meta[name="livedash-build"]');
    const before = await build.getAttribute('content');
    const preview = page.getByTestId('rule-preview').first();
    await preview.locator('summary').click();
    await preview.getByTestId('preview-warn').fill('42');
    await markDocument(page);

    await server.stop();
    await expect(dashboard.banner).toBeVisible();
    appendFileSync(path.join(site, 'pkg', 'livedash.css'), '\n/* the build after */\n');
    await server.start();

    // Back live on the old build, the rule as typed, and a word that a new version waits.
    const notice = page.getByTestId('redeploy-notice');
    await expect(notice).toContainText('A new version of livedash is running', { timeout: 15_000 });
    await expect(dashboard.badge).toHaveText('live');
    await expect(preview.getByTestId('preview-warn')).toHaveValue('42');
    expect(await openedBefore(page)).toBe(true);
    await expect(build).toHaveAttribute('content', before!);

    // Closing the preview lets the page load the new build.
    await preview.locator('summary').click();
    await expect.poll(() => openedBefore(page), { timeout: 10_000 }).toBe(false);
    await expect(build).not.toHaveAttribute('content', before!);
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    await expect(dashboard.badge).toHaveText('live');
    await expect(page.getByTestId('redeploy-notice')).toHaveCount(0);
  } finally {
    await server.stop();
  }
});
