import { defineConfig } from '@playwright/test';

// The release server, started from the project root; `make test` builds it first.
const port = process.env.E2E_PORT ?? '3000';
const baseURL = `http://127.0.0.1:${port}`;

export default defineConfig({
  testDir: './tests',
  timeout: 30_000,
  expect: { timeout: 10_000 },
  workers: 1,
  retries: 0,
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL,
    browserName: 'chromium',
    trace: 'retain-on-failure',
    launchOptions: {
      // Debian's chromium: Playwright never downloads a browser here.
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        // A real public name for the deployment behind nginx (scale_out.spec.ts), no DNS needed.
        '--host-resolver-rules=MAP dash.example.com 127.0.0.1',
      ],
    },
  },
  webServer: {
    // A fresh history store per run, so results do not depend on the last one.
    command: 'rm -rf target/e2e-data && exec ./target/release/livedash',
    cwd: '..',
    url: `${baseURL}/healthz`,
    // A stale server on the port would test old code: fail instead.
    reuseExistingServer: false,
    timeout: 60_000,
    env: {
      LEPTOS_SITE_ADDR: `127.0.0.1:${port}`,
      LEPTOS_SITE_ROOT: 'target/site',
      RUST_LOG: 'warn',
      LIVEDASH_DATA: 'target/e2e-data/livedash.sqlite',
    },
  },
});
