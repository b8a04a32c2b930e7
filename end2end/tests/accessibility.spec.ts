import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';
import { DashboardPage } from './fixtures/dashboard_page';

// WCAG 2 A and AA rules (labels, names, contrast, structure) checked by axe-core on the pages a
// person sees, in both themes; and the controls work from the keyboard alone.

for (const colorScheme of ['dark', 'light'] as const) {
  for (const path of ['/', '/d/main', '/d/host']) {
    test(`${path} in the ${colorScheme} theme breaks no WCAG A/AA rule`, async ({ browser }) => {
      const context = await browser.newContext({ colorScheme });
      const page = await context.newPage();
      await page.goto(path);
      await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
      if (path !== '/') await expect(page.getByTestId('connection-badge')).toHaveText('live');
      const results = await new AxeBuilder({ page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']).analyze();
      const violations = results.violations.map(
        (violation) => `${violation.id} (${violation.impact}): ${violation.nodes.map((node) => node.target.join(' ')).join(', ')}`,
      );
      expect(violations).toEqual([]);
      await context.close();
    });
  }
}

test('the time range and the theme can be changed from the keyboard alone', async ({ page }) => {
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.goto();
  await expect(dashboard.badge).toHaveText('live');
  const fiveMinutes = page.getByRole('group', { name: 'Time range' }).getByRole('button', { name: '5 min' });
  await fiveMinutes.focus();
  await page.keyboard.press('Enter');
  await expect(fiveMinutes).toHaveAttribute('aria-pressed', 'true');
  await expect(page.getByTestId('chart-activeUsers')).toHaveAttribute('data-range', '5 min');
  const html = page.locator('html');
  const before = await html.getAttribute('data-theme');
  await page.getByTestId('theme-toggle').focus();
  await page.keyboard.press('Space');
  await expect(html).not.toHaveAttribute('data-theme', before!);
});
