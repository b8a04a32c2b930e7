import { expect, test } from '@playwright/test';

// Server-side rendering: the first HTML already carries real numbers, not "loading".
test('the first HTML of a dashboard contains its metric values', async ({ request }) => {
  const response = await request.get('/d/main');
  expect(response.status()).toBe(200);
  const html = await response.text();
  for (const metric of ['activeUsers', 'requestsPerSec', 'errorRate', 'revenue', 'orders']) {
    expect(html).toContain(`data-testid="card-${metric}"`);
  }
  // Every card's value is a number in its format, never a placeholder.
  const values = [...html.matchAll(/data-testid="metric-value"[^>]*>([^<]*)</g)].map((m) => m[1]);
  expect(values).toHaveLength(5);
  for (const value of values) expect(value).toMatch(/\d/);
  expect(html).toMatch(/\$[\d,]+\.\d\d/); // revenue as currency
  expect(html).toMatch(/\d+\.\d%/); // error rate as percent
  expect(html).toContain('>connecting<');
});
