import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

// No page breaks its own Content-Security-Policy: every violation the browser reports is
// recorded from before any page script runs, and stays none while the page hydrates, goes live
// and is used.
for (const path of ['/', '/d/main', '/d/host', '/d/no-such-dashboard', '/bench/redraw?rounds=2']) {
  test(`no CSP violation on ${path}`, async ({ page }) => {
    await page.addInitScript(() => {
      const seen: string[] = [];
      (window as unknown as { violations: string[] }).violations = seen;
      document.addEventListener('securitypolicyviolation', (event) => {
        seen.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
      });
    });
    const response = await page.goto(path);
    const policy = response!.headers()['content-security-policy'];
    expect(policy).toMatch(/script-src 'self' 'nonce-[A-Za-z0-9_-]{16,}' 'wasm-unsafe-eval'/);
    expect(policy).toContain("frame-ancestors 'none'");
    expect(response!.headers()['x-content-type-options']).toBe('nosniff');
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    if (path.startsWith('/d/main')) {
      const dashboard = new DashboardPage(page, 'main');
      await expect(dashboard.badge).toHaveText('live');
      const seq = await dashboard.seq();
      await expect.poll(() => dashboard.seq()).toBeGreaterThan(seq + 1);
      // The pointer readout (on every chart: the crosshair is shared) is positioned by a style
      // set from the page's script.
      await dashboard.charts.first().hover();
      await expect(page.getByTestId('chart-readout').first()).toBeVisible();
      await page.getByTestId('theme-toggle').click();
    }
    const violations = await page.evaluate(() => (window as unknown as { violations: string[] }).violations);
    expect(violations).toEqual([]);
  });
}
