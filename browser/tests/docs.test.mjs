// /docs and /docs/errors in a real browser: the embedded reference lists every operation of
// /openapi.json in its navigation, search and deep links work, its client sends requests to
// this server, and no request leaves the server (the pages' Content-Security-Policy would block
// one; this proves none is even tried). Leaves target/browser/docs.png (and with
// UPDATE_SCREENSHOTS=1 docs/images/docs.png, which the README shows).
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { after, before, test } from 'node:test';

import { foreignRequests, launch, recordingContext } from '../lib/chromium.mjs';
import { startServer } from '../lib/server.mjs';

const ROOT = resolve(import.meta.dirname, '..', '..');
const SHOTS = join(ROOT, 'target', 'browser');

let server;
let browser;
let operations; // [{ method, path, tag }] of /openapi.json

before(async () => {
  server = await startServer();
  browser = await launch();
  const doc = await (await fetch(`${server.base}/openapi.json`)).json();
  operations = Object.entries(doc.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      tag: op.tags?.[0],
    })),
  );
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Scalar's name for an operation, in its navigation ids and its URL fragments. */
function anchor(method, path) {
  const op = operations.find((o) => o.method === method && o.path === path);
  assert.ok(op, `the document has ${method} ${path}`);
  return `tag/${op.tag}/${method}${path}`;
}

// Scalar's validator (zod) probes once whether it may compile code (`Function('')`) and runs
// without when the policy says no; that refusal is expected, any other violation is not.
function unexpected(violations) {
  return violations.filter((v) => !(v.directive === 'script-src' && v.blocked === 'eval'));
}

test('the reference shows every operation, searches, and loads nothing from another host', async () => {
  const { context, requests, errors, violations } = await recordingContext(browser);
  const seen = [];
  const open = async (url, viewport) => {
    const page = await context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    const response = await page.goto(url, { waitUntil: 'networkidle' });
    assert.equal(response.status(), 200);
    assert.match(response.headers()['content-security-policy'], /default-src 'none'/);
    return page;
  };
  const done = async (page) => {
    seen.push(...(await violations(page)));
    await page.close();
  };

  // Every tag is a group of the navigation; opened (its "Open Group" button where closed), the
  // groups list every operation.
  let page = await open(`${server.base}/docs`);
  await page.waitForSelector('[data-sidebar-id^="api-1/tag/"]');
  const tags = [...new Set(operations.map((o) => o.tag))];
  const groups = await page.evaluate((tags) => {
    const missing = [];
    let opened = 0;
    for (const tag of tags) {
      const group = document.querySelector(`[data-sidebar-id="api-1/tag/${CSS.escape(tag)}"]`);
      const toggle = group?.querySelector(':scope > div > button[aria-expanded="false"]');
      if (!group) missing.push(tag);
      else if (toggle) {
        toggle.click();
        opened += 1;
      }
    }
    return { missing, opened };
  }, tags);
  assert.deepEqual(groups.missing, [], 'tags missing from the navigation');
  assert.ok(groups.opened > 0, 'groups start closed, but the first');
  const expected = operations.map((o) => `api-1/${anchor(o.method, o.path)}`);
  // What the navigation lacks of `want`, evaluated in the page (passed as source).
  const lacking = `((want) => {
    const ids = new Set([...document.querySelectorAll('[data-sidebar-id]')].map((e) => e.dataset.sidebarId));
    return want.filter((id) => !ids.has(id));
  })(${JSON.stringify(expected)})`;
  await page
    .waitForFunction(`${lacking}.length === 0`, null, { timeout: 15_000 })
    .catch(() => {}); // the assertion below names what is missing
  const missing = await page.evaluate(lacking);
  assert.deepEqual(missing, [], 'operations missing from the navigation');

  // Search finds an operation by its path.
  await page.keyboard.press('Control+k');
  await page.keyboard.type('price-calculations');
  await page
    .getByRole('option')
    .filter({ hasText: '/v1/orgs/{orgId}/price-calculations' })
    .first()
    .waitFor();
  await page.keyboard.press('Escape');
  await done(page);

  // A deep link opens at the operation: fields of its request body, and a curl sample
  // addressed to this server. Wider than the other pages, as it is the README's picture: the
  // sample's lines then fit their panel.
  const calculation = anchor('POST', '/v1/orgs/{orgId}/price-calculations');
  page = await open(`${server.base}/docs#${calculation}`, { width: 1440, height: 900 });
  await page.locator(`[id="api-1/${calculation}"]`).waitFor();
  await page.locator(`[id="api-1/${calculation}.body.items"]`).waitFor();
  await page.getByText(`${server.base}/v1/orgs/{orgId}/price-calculations`).first().waitFor();
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, 'docs.png') });
  if (process.env.UPDATE_SCREENSHOTS === '1') {
    copyFileSync(join(SHOTS, 'docs.png'), join(ROOT, 'docs', 'images', 'docs.png'));
  }
  await done(page);

  // The built-in client sends an operation to this server, straight (no proxy).
  const health = anchor('GET', '/healthz');
  page = await open(`${server.base}/docs#${health}`);
  await page.locator(`[id="api-1/${health}"]`).getByRole('button', { name: 'Test Request' }).click();
  const client = page.getByRole('dialog');
  await client.getByText(server.base).first().waitFor();
  const sent = page.waitForResponse((r) => r.url() === `${server.base}/healthz`);
  await client.getByRole('button', { name: 'Send' }).first().click();
  assert.equal((await sent).status(), 200);
  await page.screenshot({ path: join(SHOTS, 'docs-client.png') });
  await done(page);

  assert.deepEqual(foreignRequests(requests, server.base), [], 'requests to another host');
  assert.deepEqual(unexpected(seen), [], 'Content-Security-Policy violations');
  assert.deepEqual(errors, [], 'uncaught errors in the pages');
  await context.close();
});

test('the error catalogue lands on a code and needs nothing but its stylesheet', async () => {
  const { context, requests, errors, violations } = await recordingContext(browser);
  const page = await context.newPage();
  const response = await page.goto(`${server.base}/docs/errors#400012`);
  assert.equal(response.status(), 200);
  const row = page.locator('tr:target');
  assert.equal(await row.getAttribute('id'), '400012');
  assert.ok(await row.isVisible());
  assert.match(await row.innerText(), /PriceCalculationError/);
  // The stylesheet applied: the table spans the page's column.
  const width = await page.locator('table').evaluate((t) => t.getBoundingClientRect().width);
  assert.ok(width > 800, `table width ${width}`);

  assert.deepEqual(foreignRequests(requests, server.base), [], 'requests to another host');
  assert.deepEqual(await violations(page), [], 'Content-Security-Policy violations');
  assert.deepEqual(errors, [], 'uncaught errors in the page');
  await context.close();
});
