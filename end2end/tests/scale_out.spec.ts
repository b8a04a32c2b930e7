import { expect, test } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DashboardPage } from './fixtures/dashboard_page';
import { hashPassword, root, startServer, stopServer } from './fixtures/livedash_server';
import { SignInPage } from './fixtures/sign_in_page';

// Two instances sharing a Redis (Debian's redis-server, on a unix socket of this test's own,
// no persistence) behind nginx (Debian's, running docs/deploy/nginx-livedash.conf itself),
// with sign-in, reached by a real name (dash.example.com, mapped to 127.0.0.1 by the
// browser's resolver rules) as a deployment is: a person signs in through nginx, the page
// lives through it; the instance holding its connection is killed; the page reconnects
// through nginx to the other and resumes with no seq missing or twice.

const work = mkdtempSync(path.join(tmpdir(), 'livedash-scale-out-'));
const children: ChildProcess[] = [];

test.afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  rmSync(work, { recursive: true, force: true });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string) {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function startRedis(): Promise<string> {
  const socket = path.join(work, 'redis.sock');
  const redis = spawn('redis-server', ['--port', '0', '--unixsocket', socket, '--save', '', '--appendonly', 'no', '--dir', work], {
    stdio: 'ignore',
  });
  children.push(redis);
  await waitFor(() => existsSync(socket), 'redis-server');
  return `unix://${socket}`;
}

/** nginx with the documented snippet, its upstreams and listen port replaced. */
async function startNginx(upstreams: number[]): Promise<number> {
  const port = await freePort();
  const snippet = readFileSync(path.join(root, 'docs', 'deploy', 'nginx-livedash.conf'), 'utf8')
    .replace('127.0.0.1:3001', `127.0.0.1:${upstreams[0]}`)
    .replace('127.0.0.1:3002', `127.0.0.1:${upstreams[1]}`)
    .replace('listen 8080;', `listen 127.0.0.1:${port};`);
  writeFileSync(path.join(work, 'livedash.conf'), snippet);
  const temp = (name: string) => `${name}_temp_path ${path.join(work, name)};`;
  writeFileSync(
    path.join(work, 'nginx.conf'),
    `worker_processes 1;
error_log ${path.join(work, 'nginx-error.log')} warn;
pid ${path.join(work, 'nginx.pid')};
events { worker_connections 512; }
http {
  access_log off;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  include ${path.join(work, 'livedash.conf')};
}
`,
  );
  const nginx = spawn('nginx', ['-p', work, '-c', path.join(work, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
  children.push(nginx);
  await waitFor(
    () =>
      fetch(`http://127.0.0.1:${port}/healthz`)
        .then((response) => response.ok)
        .catch(() => false),
    'nginx',
  );
  return port;
}

/** Open WebSocket connections of an instance (its `/metrics`). */
async function connections(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('livedash_connections '));
  return Number(line?.split(' ')[1] ?? 0);
}

test('behind nginx, the page resumes on the other instance when the one serving it is killed', async ({ page }) => {
  test.setTimeout(60_000);
  const redis = await startRedis();
  const config = path.join(work, 'livedash.toml');
  writeFileSync(config, `[[users]]\nname = "ops"\npassword_hash = "${hashPassword('ops password')}"\nrole = "admin"\n`);
  const args = ['--redis', redis, '--persist', 'false', '--host-metrics', 'false', '--tick-ms', '250'];
  // One secret for the deployment: a session from one instance holds on the other.
  args.push('--config', config, '--auth-secret', 'the deployment secret, thirty-two bytes or more');
  const instances = [await startServer(args), await startServer(args)];
  for (const { server } of instances) children.push(server);
  const nginx = await startNginx(instances.map((instance) => instance.port));

  // Bound to 127.0.0.1, the instances answer the public name nginx passes on.
  const base = `http://dash.example.com:${nginx}`;
  await page.goto(`${base}/d/main?heartbeatMs=1000`);
  await expect(page).toHaveURL(`${base}/login?next=/d/main%3FheartbeatMs%3D1000`);
  await new SignInPage(page).signIn('ops', 'ops password');
  await expect(page).toHaveURL(`${base}/d/main?heartbeatMs=1000`);
  const dashboard = new DashboardPage(page, 'main');
  await dashboard.waitForHydration();
  await dashboard.expectLiveOver('ws');
  const epoch = await dashboard.root.getAttribute('data-epoch');

  // Which instance holds the page's WebSocket: kill that one, as a crash would.
  const counts = await Promise.all(instances.map((instance) => connections(instance.port)));
  const serving = counts.findIndex((count) => count > 0);
  expect(serving, `connections per instance: ${counts}`).toBeGreaterThanOrEqual(0);
  const before = await dashboard.seq();
  instances[serving].server.kill('SIGKILL');

  await expect(dashboard.badge).toHaveText('live', { timeout: 20_000 });
  // Resumed on the other instance in the same epoch: no snapshot, no seq missing or twice.
  await expect(dashboard.panel('recovery')).toHaveText(/^resumed after seq \d+$/, { timeout: 20_000 });
  await expect(dashboard.root).toHaveAttribute('data-epoch', epoch!);
  await expect.poll(() => dashboard.seq(), { timeout: 15_000 }).toBeGreaterThan(before + 3);
  await expect(page.getByTestId('connection-panel')).toHaveAttribute('data-seq-anomalies', '0');
  expect(await connections(instances[1 - serving].port)).toBeGreaterThan(0);
  await stopServer(instances[1 - serving].server);
});
