import { expect, test } from '@playwright/test';

// Local open mode (no sign-in, bound to loopback) says so in the top bar of every page,
// before and after the WASM loads.
test('the top bar says access is open on this machine', async ({ page }) => {
  for (const path of ['/', '/d/main']) {
    await page.goto(path);
    await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
    await expect(page.getByTestId('access-notice')).toHaveText('Open access on this machine');
  }
});
