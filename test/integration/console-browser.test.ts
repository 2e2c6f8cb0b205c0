import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { SluiceNode } from '../../src/daemon.js';
import { chromiumPath, contrastFailures, launchChromium } from '../helpers/browser.js';
import { ADMIN_TOKEN, ENDPOINT_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { runCli } from '../helpers/cli.js';
import { REPO_ROOT, onTeardown, tempDir, waitFor } from '../helpers/env.js';

// Browser globals inside page.evaluate (the suite is compiled without the DOM library).
declare const document: any; // eslint-disable-line @typescript-eslint/no-explicit-any
declare const window: any; // eslint-disable-line @typescript-eslint/no-explicit-any

// CI installs Debian's chromium (.ci/run); elsewhere, say how to get it.
const skip = !chromiumPath() && !process.env.CI ? 'needs chromium: apt-get install chromium' : false;
/** Set to a directory (docs/console) to refresh the screenshots the README shows. */
const SHOTS = process.env.SLUICE_CONSOLE_SCREENSHOTS;

let c: Awaited<ReturnType<typeof makeCluster>>;
let hq: SluiceNode;
let pilot: SluiceNode;
let browser: Browser;
let context: BrowserContext;
let base: string;

async function shot(page: Page, name: string): Promise<void> {
  if (!SHOTS) return;
  const dir = path.resolve(REPO_ROOT, SHOTS);
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: false });
}

/** A new page on the packages view with the publish form open and name and version filled in. */
async function publishForm(name: string, version: string) {
  const page = await context.newPage();
  await page.goto(`${base}/ui/packages`);
  await page.getByText('Publish a package').click();
  const form = page.locator('#publish-form');
  await form.getByLabel('Name').fill(name);
  await form.getByLabel('Version').fill(version);
  return { page, form };
}

async function assertContrast(page: Page, view: string): Promise<void> {
  const failures = await contrastFailures(page);
  assert.deepEqual(failures, [], `${view}: text below WCAG AA contrast`);
}

describe('admin console in Chromium: sign in, publish, approve, watch the tree, see compliance', { skip, timeout: 180_000 }, () => {
  before(async () => {
    c = await makeCluster(
      [
        { name: 'hq' },
        { name: 'pilot', upstream: 'hq', extra: 'ring: pilot, region: europe' },
        { name: 'broad', upstream: 'hq', extra: 'ring: broad, region: americas' },
      ],
      '',
      // Two regions with real schedules, so the schedules view has something to show; the
      // critical package under test bypasses europe's office-hours limit.
      [
        '  main: { timezone: UTC, sync: { every: 10m, jitter: 0s } }',
        '  europe: { timezone: Europe/Paris, schedule: [{ days: [mon, tue, wed, thu, fri], from: "08:00", to: "19:00", rate: 4Mbit/s }, { rate: unlimited }], critical: bypass, sync: { every: 10m, jitter: 0s } }',
        '  americas: { timezone: America/New_York, schedule: [{ from: "22:00", to: "06:00", rate: 100MB/s }, { rate: 2MB/s }], critical: 10MB/s, sync: { every: 10m, jitter: 0s } }',
      ],
      { tls: true },
    );
    hq = await startNode(c.topology, 'hq', c.secrets);
    pilot = await startNode(c.topology, 'pilot', c.secrets);
    await startNode(c.topology, 'broad', c.secrets);
    base = hq.address.url;
    browser = await launchChromium();
    // The demo CA is not the system's: the browser is told to accept this run's certificates.
    context = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
  });

  it('refuses a wrong token, then signs in with a session cookie that scripts cannot read', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/ui/sign-in`);
    await page.getByLabel('Token', { exact: true }).fill('not-the-token-0123456789');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').waitFor();
    assert.match(await page.getByRole('alert').innerText(), /not one this node accepts/);
    assert.equal((await context.cookies()).some((k) => k.name === 'sluice_session'), false, 'no session after a wrong token');
    await shot(page, 'sign-in');

    await page.getByLabel('Token', { exact: true }).fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/ui/packages`);
    assert.match(await page.locator('.who').innerText(), /Signed in as tester/);
    const cookie = (await context.cookies()).find((k) => k.name === 'sluice_session');
    assert.ok(cookie, 'session cookie set');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.secure, true, 'Secure under TLS');
    assert.equal(await page.evaluate(() => document.cookie.includes('sluice_session')), false);
    await page.close();
  });

  it('publishes a file from the browser, approves it for pilot with the keyboard, and the tree shows it reach pilot live', async () => {
    const tree = await context.newPage();
    await tree.goto(`${base}/ui/tree`);
    await tree.locator('tr[data-node="pilot"]').waitFor();
    // Marks this document: if the tree updates while the mark stays, no reload happened.
    await tree.evaluate(() => ((window as unknown as { mark: number }).mark = 42));

    const { page, form } = await publishForm('openssl-fix', '3.0.15');
    await form.getByLabel('Severity').selectOption('critical');
    await form.getByLabel('Classification').fill('security');
    await form.getByLabel('Files').setInputFiles({ name: 'openssl-fix.deb', mimeType: 'application/octet-stream', buffer: Buffer.alloc(3 * 1024 * 1024, 7) });
    await form.getByRole('button', { name: 'Publish' }).click();
    await page.waitForURL(`${base}/ui/packages/openssl-fix%403.0.15`);
    assert.equal(await page.locator('#publish-progress').count(), 0, 'left the form once published');
    assert.match(await page.locator('#toast').innerText(), /Published openssl-fix@3.0.15/);
    await shot(page, 'package');

    // Keyboard only: ring, review, confirm.
    const ring = page.getByLabel('Ring');
    assert.equal(await ring.inputValue(), '', 'no ring is chosen for the admin (least of all "all")');
    assert.equal(await ring.locator('option').last().innerText(), 'all', '"all", the widest, comes last');
    await ring.focus();
    for (let i = 0; i < 6 && (await ring.inputValue()) !== 'pilot'; i++) await page.keyboard.press('ArrowDown');
    assert.equal(await ring.inputValue(), 'pilot');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    const confirm = page.locator('#confirm');
    await confirm.getByRole('heading').waitFor();
    assert.match(await confirm.innerText(), /Approve openssl-fix@3\.0\.15 \(critical\) for ring pilot\?/);
    assert.match(await confirm.innerText(), /3\.0 MiB will move to 1 node/);
    assert.match(await confirm.innerText(), /pilot \(europe\) receives 1 file, 3\.0 MiB/);
    assert.doesNotMatch(await confirm.innerText(), /broad/);
    await waitFor('focus on the confirmation', () => page.evaluate(() => document.activeElement?.id === 'confirm'));
    await shot(page, 'approve-confirm');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    await page.locator('.state-approved').first().waitFor();
    assert.match(await page.locator('dl.facts').innerText(), /pilot: .* by tester/);

    // The tree page was never reloaded and now shows pilot holding the blob.
    await waitFor('pilot holding everything for its rings, one blob, in the live tree', async () => {
      const row = await tree.locator('tr[data-node="pilot"]').innerText();
      return /1 blob, 3\.0 MiB/.test(row) && /nothing pending for its rings/.test(row) && /rings pilot/.test(row);
    }, 30_000);
    assert.equal(await tree.evaluate(() => (window as unknown as { mark?: number }).mark), 42, 'the tree updated in place');
    assert.match(await tree.locator('tr[data-node="broad"]').innerText(), /0 blobs/);
    await assertContrast(tree, 'tree');
    await shot(tree, 'tree');
    await page.close();
    await tree.close();
  });

  it('says why a publish failed, and filters the list in place as one types', async () => {
    const { page, form } = await publishForm('openssl-fix', '3.0.15');
    await form.getByLabel('Files').setInputFiles({ name: 'again.deb', mimeType: 'application/octet-stream', buffer: Buffer.alloc(1024, 1) });
    await form.getByRole('button', { name: 'Publish' }).click();
    await waitFor('the refusal', async () => /PACKAGE_EXISTS: package openssl-fix@3\.0\.15 is already published/.test(await page.locator('#publish-progress-text').innerText()));
    assert.equal(page.url(), `${base}/ui/packages`, 'stayed on the form');

    await page.evaluate(() => ((window as unknown as { mark: number }).mark = 1));
    await page.getByRole('searchbox', { name: 'Search' }).fill('no-such-package');
    await waitFor('the filtered list', async () => /^0 of 1 package$/.test(await page.locator('#package-list .count').innerText()));
    assert.match(page.url(), /[?&]q=no-such-package/, 'the filter is in the address, so it can be shared');
    await page.getByRole('searchbox', { name: 'Search' }).fill('openssl');
    await waitFor('the list again', async () => /^1 package$/.test(await page.locator('#package-list .count').innerText()));
    assert.equal(await page.evaluate(() => (window as unknown as { mark?: number }).mark), 1, 'filtered without a reload');
    await page.close();
  });

  it('shows the agent\'s report in Compliance without a reload, and exports it as CSV', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/ui/compliance`);
    const row = page.locator('tr', { has: page.locator('th', { hasText: 'openssl-fix@3.0.15' }) }).filter({ has: page.locator('td', { hasText: /^pilot$/ }) });
    await row.waitFor();
    assert.match(await row.innerText(), /no endpoints/);
    await page.evaluate(() => ((window as unknown as { mark: number }).mark = 7));

    const agent = await runCli(['agent', '--server', pilot.address.url, '--client-id', 'pc-1', '--ring', 'pilot', '--cache', path.join(tempDir(), 'cache'), '--exec', 'true', '--ca', c.caPath, '--json', '-t', c.file], { env: { SLUICE_ENDPOINT_TOKEN: ENDPOINT_TOKEN } });
    assert.equal(agent.code, 0, agent.stderr);
    await waitFor('the report in the compliance view', async () => /100%/.test(await row.innerText()), 30_000).catch(async (err) => {
      await page.reload();
      throw new Error(`${(err as Error).message}; after a reload the row reads: ${await row.innerText()}`);
    });
    assert.equal(await page.evaluate(() => (window as unknown as { mark?: number }).mark), 7, 'updated in place');
    const cells = await row.locator('td').allInnerTexts();
    assert.equal(cells[1], '1', 'one endpoint');
    assert.equal(cells[3], '1 succeeded');
    await assertContrast(page, 'compliance');
    await shot(page, 'compliance');

    const download = await Promise.all([page.waitForEvent('download'), page.getByRole('link', { name: 'Export CSV' }).click()]).then(([d]) => d);
    const csv = await download.path().then((p) => (p ? import('node:fs').then((fs) => fs.readFileSync(p, 'utf8')) : ''));
    const lines = csv.trim().split('\r\n');
    assert.match(lines[0]!, /^package,severity,site,endpoints,succeeded,/);
    assert.ok(lines.some((l) => l.startsWith('openssl-fix@3.0.15,critical,pilot,1,1,')), csv);
    await page.close();
  });

  it('refuses a form post without the CSRF token, and a cross-site form carries no session', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/ui/packages/openssl-fix%403.0.15`);
    // Same origin, session cookie sent, no form token: the API refuses.
    const forged: { status: number; body: { error: { code: string } } } = await page.evaluate(async () => {
      const res = await fetch('/v1/packages/openssl-fix@3.0.15/decline', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
      return { status: res.status, body: (await res.json()) as { error: { code: string } } };
    });
    assert.equal(forged.status, 403);
    assert.equal(forged.body.error.code, 'CSRF_REJECTED');
    // A plain HTML form (what a forged page would hold) to sign out, without _csrf.
    await page.evaluate(() => {
      const f = document.createElement('form');
      f.method = 'post';
      f.action = '/ui/sign-out';
      document.body.append(f);
      f.submit();
    });
    await page.waitForLoadState();
    assert.match(await page.getByRole('alert').innerText(), /did not come from a console page/);

    // Another site (localhost instead of 127.0.0.1) auto-posts to the primary: SameSite=Strict keeps the cookie home.
    const attacker = createServer((_req, res) => {
      res.setHeader('content-type', 'text/html');
      res.end(`<form id="f" method="post" action="${base}/v1/packages/openssl-fix@3.0.15/decline" enctype="text/plain"><input name='{"a":"' value='"}'></form><script>document.getElementById('f').submit()</script>`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    onTeardown(() => new Promise((resolve) => attacker.close(resolve)));
    const port = (attacker.address() as { port: number }).port;
    const evil = await context.newPage();
    const answer = evil.waitForResponse((r) => r.url().includes('/decline'));
    await evil.goto(`http://localhost:${port}/`);
    assert.ok([401, 415].includes((await answer).status()), `cross-site post answered ${(await answer).status()}`);
    const pkg = (await page.evaluate(async () => (await fetch('/v1/packages/openssl-fix@3.0.15')).json())) as { state: string };
    assert.equal(pkg.state, 'approved', 'nothing was declined');
    await page.goto(`${base}/ui/packages`);
    assert.match(await page.locator('.who').innerText(), /Signed in as tester/, 'still signed in');
    await evil.close();
    await page.close();
  });

  it('is usable on a phone-sized screen and at 1280×800, with AA contrast on every view', async () => {
    for (const [label, viewport] of [
      ['desktop', { width: 1280, height: 800 }],
      ['phone', { width: 390, height: 844 }],
    ] as const) {
      const page = await context.newPage();
      await page.setViewportSize(viewport);
      for (const view of ['packages', 'rings', 'tree', 'compliance', 'schedules']) {
        await page.goto(`${base}/ui/${view}`);
        await page.locator('h1').waitFor();
        // Wide tables scroll inside their frame; the page itself never scrolls sideways.
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${view} at ${label}: the page is ${overflow}px wider than the screen`);
        await assertContrast(page, `${view} (${label})`);
        if (label === 'desktop' && (view === 'packages' || view === 'rings' || view === 'schedules')) await shot(page, view);
        if (label === 'phone' && view === 'tree') await shot(page, 'tree-phone');
      }
      // The skip link is the first stop of the keyboard and lands on the content.
      await page.goto(`${base}/ui/packages`);
      await page.keyboard.press('Tab');
      assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Skip to content');
      await page.close();
    }
  });

  it('a session whose token is revoked, when it next acts, is taken to sign in again with the reason, and nothing is approved', async () => {
    const env = { SLUICE_TOKEN: ADMIN_TOKEN };
    const made = await runCli(['token', 'add', 'amy', '--role', 'approver', '--rings', 'pilot,broad', '--server', base, '-t', c.file], { env });
    assert.equal(made.code, 0, made.stderr);
    const amy = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1280, height: 800 } });
    onTeardown(() => amy.close());
    const page = await amy.newPage();
    await page.goto(`${base}/ui/sign-in`);
    await page.getByLabel('Token', { exact: true }).fill(made.stdout.trim());
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`${base}/ui/packages`);
    await page.goto(`${base}/ui/packages/openssl-fix%403.0.15`);
    await page.getByLabel('Ring').selectOption('broad');
    await page.getByRole('button', { name: /Review approval/ }).click();
    const approve = page.locator('#confirm').getByRole('button', { name: 'Approve for broad' });
    await approve.waitFor();

    // Revoked while the confirmation is open: the click is refused, and the console says why.
    const revoked = await runCli(['token', 'revoke', 'amy', '--server', base, '-t', c.file], { env });
    assert.equal(revoked.code, 0, revoked.stderr);
    const seq = hq.catalog.seq;
    await approve.click();
    await page.waitForURL(/\/ui\/sign-in\?ended=revoked&next=%2Fui%2Fpackages%2Fopenssl-fix%25403\.0\.15$/);
    assert.match(await page.getByRole('alert').innerText(), /the token you signed in with was revoked/);
    assert.equal((await amy.cookies()).some((k) => k.name === 'sluice_session'), false, 'the session cookie is gone');
    assert.equal(hq.catalog.seq, seq, 'nothing was approved');
    assert.ok(!hq.catalog.state.get('openssl-fix@3.0.15')!.approvals.has('broad'));
    await page.close();
  });

  it('withdraws one ring\'s approval from the package page, after a review saying what that ring\'s machines get instead', async () => {
    const page = await context.newPage();
    await page.goto(`${base}/ui/packages/openssl-fix%403.0.15`);
    const pilotRow = page.locator('tr[data-ring="pilot"]');
    assert.match(await pilotRow.innerText(), /receives it/);
    await page.getByRole('button', { name: 'Review withdrawing the approval for pilot' }).click();
    const confirm = page.locator('#confirm');
    await confirm.getByRole('heading').waitFor();
    assert.match(await confirm.innerText(), /Withdraw the approval of openssl-fix@3\.0\.15 for pilot\?/);
    assert.match(await confirm.innerText(), /machines of pilot are no longer offered any version of openssl-fix/);
    await confirm.getByRole('button', { name: 'Withdraw from pilot' }).click();
    await waitFor('the page again, pilot withdrawn', async () => /not approved for it/.test(await page.locator('tr[data-ring="pilot"]').innerText().catch(() => '')));
    assert.match(await page.locator('#toast').innerText(), /Withdrew openssl-fix@3\.0\.15 from pilot/);
    assert.equal(hq.catalog.state.get('openssl-fix@3.0.15')!.approvals.has('pilot'), false);
    await page.close();
  });

  it('a downstream node serves the views read-only', async () => {
    const page = await context.newPage();
    await page.goto(`${pilot.address.url}/ui/packages/openssl-fix%403.0.15`);
    assert.match(await page.locator('.brand').innerText(), /pilot · downstream node, read-only/);
    assert.equal(await page.getByRole('button', { name: /Review approval/ }).count(), 0);
    await page.goto(`${pilot.address.url}/ui/packages`);
    assert.equal(await page.getByText('Publish a package').count(), 0);
    await page.close();
  });
});
