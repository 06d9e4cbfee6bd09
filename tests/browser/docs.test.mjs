// The Swagger UI page at /docs, end to end in headless Chromium:
// open /docs, Authorize with a registered user's username and password
// (the OAuth2 password flow against POST /auth/login), then execute
// POST /tasks and GET /tasks, and share a project (POST /projects, POST and
// GET /projects/{id}/members) from the page, and check what it shows.
//
// The machine has no internet, so this script serves npm's swagger-ui-dist
// itself and points the server's --docs-assets-url at it. It starts the
// taskapi binary on a free port and a temporary database, and stops
// everything it started, whatever happens.
//
//   TASKAPI_BIN=target/debug/taskapi node tests/browser/docs.test.mjs
//
// Environment: TASKAPI_BIN (default ../../target/debug/taskapi from here),
// SCREENSHOT (default ../../target/browser/docs.png), CHROMIUM
// (default /usr/bin/chromium).

import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = process.env.TASKAPI_BIN ?? path.join(here, '../../target/debug/taskapi');
const screenshot = process.env.SCREENSHOT ?? path.join(here, '../../target/browser/docs.png');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const overallLimitMs = 120_000;

const cleanups = [];
async function cleanUp() {
  for (const cleanup of cleanups.reverse()) {
    try { await cleanup(); } catch { /* best effort */ }
  }
}
const watchdog = setTimeout(async () => {
  console.error(`FAIL: the browser test did not finish within ${overallLimitMs / 1000} s`);
  await cleanUp();
  process.exit(1);
}, overallLimitMs);

// Serves swagger-ui-dist's files (flat directory, a few types).
function serveAssets() {
  const directory = path.join(here, 'node_modules/swagger-ui-dist');
  const types = { '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.html': 'text/html' };
  const server = http.createServer((request, response) => {
    const name = path.basename(new URL(request.url, 'http://x').pathname);
    try {
      const body = readFileSync(path.join(directory, name));
      // The page loads these with integrity checks (crossorigin="anonymous"),
      // which a browser applies to another origin's files only when that
      // origin allows it, as the CDN does.
      response.writeHead(200, {
        'Content-Type': types[path.extname(name)] ?? 'application/octet-stream',
        'Access-Control-Allow-Origin': '*',
      });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    cleanups.push(() => new Promise((done) => server.close(done)));
    resolve(`http://127.0.0.1:${server.address().port}`);
  }));
}

// Starts taskapi and resolves with its base URL from the first stderr line.
function startServer(assetsUrl) {
  const directory = mkdtempSync(path.join(tmpdir(), 'taskapi-browser-'));
  cleanups.push(() => rmSync(directory, { recursive: true, force: true }));
  const child = spawn(binary, [
    '--addr', '127.0.0.1:0',
    '--db', path.join(directory, 'taskapi.db'),
    '--docs-assets-url', assetsUrl,
  ], { stdio: ['ignore', 'ignore', 'pipe'] });
  cleanups.push(() => child.kill('SIGTERM'));
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stderr });
    lines.once('line', (line) => {
      const match = /^taskapi listening on (http:\/\/\S+)$/.exec(line);
      if (match) resolve(match[1]); else reject(new Error(`unexpected first line: ${line}`));
      lines.on('line', () => {}); // keep draining the access log
    });
    child.once('exit', (code) => reject(new Error(`taskapi exited with ${code}`)));
  });
}

// Expands an operation, clicks "Try it out", fills the path parameters
// and optionally the body, executes, and returns the status Swagger UI shows.
async function execute(page, method, apiPath, body, pathParameters = {}) {
  const operation = page.locator(`.opblock-${method}`)
    .filter({ has: page.locator(`.opblock-summary-path[data-path="${apiPath}"]`) })
    .first();
  await operation.locator('.opblock-summary').first().click();
  await operation.locator('button.try-out__btn').click();
  for (const [name, value] of Object.entries(pathParameters)) {
    await operation.locator(`tr[data-param-name="${name}"] input`).fill(String(value));
  }
  if (body !== undefined) {
    await operation.locator('textarea.body-param__text').fill(JSON.stringify(body));
  }
  await operation.locator('button.execute').click();
  const status = operation.locator('.live-responses-table tr.response .response-col_status').first();
  await status.waitFor();
  return (await status.innerText()).trim();
}

async function main() {
  const assetsUrl = await serveAssets();
  const base = await startServer(assetsUrl);

  const username = 'swagger-user';
  const password = 'a password typed into Swagger UI';
  const registered = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
  const friend = await fetch(`${base}/auth/register`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username: 'swagger-friend', password }),
  });
  if (friend.status !== 201) throw new Error(`register the friend: ${friend.status}`);

  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  cleanups.push(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 2000 } });
  page.setDefaultTimeout(15_000);
  if (process.env.DEBUG_BROWSER) {
    page.on('request', (r) => console.error('>>', r.method(), r.url(), r.postData() ?? ''));
    page.on('response', async (r) => console.error('<<', r.status(), r.url()));
    page.on('console', (m) => console.error('console:', m.text()));
  }
  await page.goto(`${base}/docs`);
  await page.locator('.swagger-ui .info .title').waitFor();

  // Authorize: the OAuth2 password flow posts the form to /auth/login.
  await page.locator('.auth-wrapper .btn.authorize').click();
  const dialog = page.locator('.dialog-ux');
  await dialog.locator('#oauth_username').fill(username);
  await dialog.locator('#oauth_password').fill(password);
  const oauth = dialog.locator('.auth-container', { hasText: 'OAuth2Password' });
  // Swagger UI labels these buttons for screen readers ("Apply
  // credentials"), so they are found by their visible text.
  await oauth.locator('button.authorize', { hasText: 'Authorize' }).click();
  await oauth.locator('button', { hasText: 'Logout' }).waitFor();
  await dialog.locator('button.close-modal').click();

  const created = await execute(page, 'post', '/tasks', { title: 'Made in Swagger UI', priority: 2 });
  if (created !== '201') throw new Error(`POST /tasks showed ${created}, expected 201`);
  const listed = await execute(page, 'get', '/tasks');
  if (listed !== '200') throw new Error(`GET /tasks showed ${listed}, expected 200`);
  const listBody = await page.locator('.opblock-get')
    .filter({ has: page.locator('.opblock-summary-path[data-path="/tasks"]') })
    .first().locator('.live-responses-table tr.response .response-col_description').first().innerText();
  if (!listBody.includes('Made in Swagger UI')) throw new Error(`GET /tasks did not show the new task: ${listBody.slice(0, 300)}`);

  // Sharing: a project (the first of this fresh database, id 1), a member
  // added to it, and the member list, all from the page.
  const project = await execute(page, 'post', '/projects', { name: 'Shared from Swagger UI' });
  if (project !== '201') throw new Error(`POST /projects showed ${project}, expected 201`);
  const added = await execute(page, 'post', '/projects/{id}/members',
    { user: 'swagger-friend', role: 'viewer' }, { id: 1 });
  if (added !== '201') throw new Error(`POST /projects/{id}/members showed ${added}, expected 201`);
  const members = await execute(page, 'get', '/projects/{id}/members', undefined, { id: 1 });
  if (members !== '200') throw new Error(`GET /projects/{id}/members showed ${members}, expected 200`);
  const membersBody = await page.locator('.opblock-get')
    .filter({ has: page.locator('.opblock-summary-path[data-path="/projects/{id}/members"]') })
    .first().locator('.live-responses-table tr.response .response-col_description').first().innerText();
  if (!membersBody.includes('swagger-friend')) throw new Error('the member list did not show the new member');

  mkdirSync(path.dirname(screenshot), { recursive: true });
  await page.screenshot({ path: screenshot, fullPage: false });
  console.log('ok: authorized in Swagger UI, POST /tasks 201, GET /tasks 200, '
    + `POST /projects 201, POST and GET /projects/{id}/members 201 and 200; screenshot ${screenshot}`);
}

try {
  await main();
  clearTimeout(watchdog);
  await cleanUp();
} catch (error) {
  console.error(`FAIL: ${error.stack ?? error}`);
  clearTimeout(watchdog);
  await cleanUp();
  process.exit(1);
}
