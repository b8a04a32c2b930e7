import { expect, test, type Page } from '@playwright/test';
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DashboardPage } from './fixtures/dashboard_page';
import { SignInPage } from './fixtures/sign_in_page';
import { hashPassword, startServer, stopServer } from './fixtures/livedash_server';

// A secured server of these tests' own: alice may view `main` only, root may do anything.
// `short` is a second server whose sessions end after five idle seconds.
const folder = mkdtempSync(path.join(tmpdir(), 'livedash-sign-in-'));
const config = path.join(folder, 'livedash.toml');
writeFileSync(
  config,
  `[[users]]
name = "alice"
password_hash = "${hashPassword('alice password')}"
role = "viewer"
dashboards = ["main"]

[[users]]
name = "root"
password_hash = "${hashPassword('root password')}"
role = "admin"
`,
);

let secured: { server: ChildProcess; port: number };
let short: { server: ChildProcess; port: number };

test.beforeAll(async () => {
  const common = ['--config', config, '--persist', 'false', '--data', path.join(folder, 'livedash.sqlite')];
  secured = await startServer(common);
  short = await startServer([...common, '--session-idle', '5s']);
});

test.afterAll(async () => {
  await stopServer(secured.server);
  await stopServer(short.server);
  rmSync(folder, { recursive: true, force: true });
});

const base = () => `http://127.0.0.1:${secured.port}`;

/** Records every CSP violation from before any page script runs. */
async function recordViolations(page: Page) {
  await page.addInitScript(() => {
    const seen: string[] = [];
    (window as unknown as { violations: string[] }).violations = seen;
    document.addEventListener('securitypolicyviolation', (event) => {
      seen.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  });
}

async function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => (window as unknown as { violations: string[] }).violations);
}

async function signIn(page: Page, user: string, password: string) {
  await new SignInPage(page).signIn(user, password);
}

test('signing in leads from the sign-in page to the live dashboard asked for', async ({ page }) => {
  await recordViolations(page);
  await page.goto(`${base()}/d/main`);
  await expect(page).toHaveURL(`${base()}/login?next=/d/main`);
  await expect(new SignInPage(page).heading).toBeVisible();
  expect(await violations(page)).toEqual([]);
  await signIn(page, 'alice', 'alice password');
  await expect(page).toHaveURL(`${base()}/d/main`);
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.waitForHydration();
  await expect(dashboard.badge).toHaveText('live');
  const seq = await dashboard.seq();
  await expect.poll(() => dashboard.seq()).toBeGreaterThan(seq + 1);
  await expect(page.getByTestId('signed-in-user')).toHaveText('alice');
  await expect(page.getByTestId('access-notice')).toHaveCount(0);
  expect(await violations(page)).toEqual([]);
});

test('a wrong password shows an error and keeps the user on the form', async ({ page }) => {
  const form = new SignInPage(page);
  await form.goto(base(), '/d/main');
  await form.signIn('alice', 'not her password');
  await expect(form.error).toHaveText('Wrong user name or password.');
  await expect(form.userName).toHaveValue('alice');
  await expect(form.heading).toBeVisible();
});

test('a viewer limited to main sees only main, and a 403 page elsewhere', async ({ page }) => {
  await recordViolations(page);
  await page.goto(`${base()}/login`);
  await signIn(page, 'alice', 'alice password');
  await expect(page).toHaveURL(`${base()}/`);
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
  await expect(page.getByTestId('dashboard-list').locator('li')).toHaveCount(1);
  await expect(page.getByTestId('dashboard-list')).toContainText('main');
  const response = await page.goto(`${base()}/d/host`);
  expect(response!.status()).toBe(403);
  await expect(page.getByTestId('forbidden')).toContainText('Not allowed');
  await expect(page.getByTestId('dashboard')).toHaveCount(0);
  expect(await violations(page)).toEqual([]);
});

test('signing out in one tab ends the stream of another: it says signed out', async ({ context }) => {
  const watching = await context.newPage();
  await watching.goto(`${base()}/login?next=/d/main`);
  await signIn(watching, 'root', 'root password');
  const dashboard = new DashboardPage(watching, 'main');
  await dashboard.waitForHydration();
  await expect(dashboard.badge).toHaveText('live');

  const other = await context.newPage();
  await other.goto(`${base()}/`);
  await other.getByTestId('sign-out').click();
  await expect(other).toHaveURL(`${base()}/login`);

  await expect(dashboard.banner).toHaveAttribute('data-state', 'signed-out');
  await expect(dashboard.bannerMessage).toContainText('Signed out');
  await expect(watching.getByTestId('sign-in-again')).toHaveAttribute('href', '/login?next=/d/main');
  await expect(dashboard.root).toHaveAttribute('data-stale', 'true');
  // It does not retry blindly: still signed out a while later.
  await watching.waitForTimeout(2_000);
  await expect(dashboard.banner).toHaveAttribute('data-state', 'signed-out');
  await watching.getByTestId('sign-in-again').click();
  await expect(watching).toHaveURL(`${base()}/login?next=/d/main`);
});

test('a session expiring while the page is open shows the signed-out state', async ({ page }) => {
  const shortBase = `http://127.0.0.1:${short.port}`;
  await page.goto(`${shortBase}/login?next=/d/main`);
  await signIn(page, 'alice', 'alice password');
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.waitForHydration();
  await expect(dashboard.badge).toHaveText('live');
  await expect(dashboard.banner).toHaveAttribute('data-state', 'signed-out', { timeout: 10_000 });
  await expect(dashboard.bannerMessage).toContainText('Signed out');
});
