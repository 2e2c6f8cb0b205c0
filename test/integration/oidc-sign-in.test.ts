import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import Provider from 'oidc-provider';
import { Agent, request } from 'undici';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { freePorts, onTeardown, waitFor } from '../helpers/env.js';

const skip = !chromiumPath() && !process.env.CI ? 'needs chromium: apt-get install chromium' : false;

/** Each person the test's identity provider knows: their email, whether the provider verified it, their groups. */
const PEOPLE: Record<string, { email: string; verified: boolean; groups: string[] }> = {
  ana: { email: 'ana@example.com', verified: true, groups: ['asia-it'] },
  bo: { email: 'bo@example.com', verified: true, groups: ['finance'] },
  chief: { email: 'chief@example.com', verified: true, groups: [] },
  // This provider lets people type their own address: eve typed the admin's.
  eve: { email: 'chief@example.com', verified: false, groups: ['asia-it'] },
};

type Entry = { who: string; role: string | null; via: string | null; act: string; outcome: string };

/** A real OpenID Connect provider on loopback and a primary whose console signs in with it. */
async function providerAndNode() {
  const idpPort = (await freePorts(1))[0]!;
  const issuer = `http://127.0.0.1:${idpPort}`;
  const c = await makeCluster([{ name: 'hq' }], [
    'rings: [asia-pilot, broad]',
    'access:',
    `  signIn: { issuer: "${issuer}", clientId: sluice-console }`,
    '  people: { chief@example.com: { role: admin } }',
    '  groups: { asia-it: { role: approver, rings: [asia-pilot] } }',
  ].join('\n'));
  const hqUrl = c.topology.nodes.get('hq')!.url;
  const provider = new Provider(issuer, {
    clients: [{ client_id: 'sluice-console', client_secret: 'console-secret-0123456789', redirect_uris: [`${hqUrl}/ui/sign-in/oidc/callback`], grant_types: ['authorization_code'], response_types: ['code'] }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['groups'] },
    findAccount: async (_ctx: unknown, id: string) => ({
      accountId: id,
      claims: async () => ({ sub: id, email: PEOPLE[id]?.email ?? `${id}@example.com`, email_verified: PEOPLE[id]?.verified ?? false, groups: PEOPLE[id]?.groups ?? [] }),
    }),
    pkce: { required: () => true },
    features: { devInteractions: { enabled: true } },
  });
  const idp = provider.listen(idpPort);
  onTeardown(() => new Promise<void>((resolve) => idp.close(() => resolve())));
  assert.equal((idp.address() as AddressInfo).port, idpPort);
  await startNode(c.topology, 'hq', { ...c.secrets, oidcClientSecret: 'console-secret-0123456789' });
  const trail = async () => ((await (await request(`${hqUrl}/v1/audit?limit=1000`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { entries: Entry[] }).entries;
  return { hqUrl, trail };
}

let browser: Browser | undefined;

/** A fresh browser profile at the console's sign-in page, sent on to the provider's login form. */
async function begin(hqUrl: string) {
  browser ??= await launchChromium();
  const context = await browser.newContext();
  // Nothing leaves loopback: the provider's pages link a web font, which is not fetched.
  await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
  const page = await context.newPage();
  await page.goto(`${hqUrl}/ui/sign-in`);
  await page.getByRole('link', { name: 'Sign in with your organisation' }).click();
  await page.locator('input[name="login"]').waitFor();
  return { context, page };
}

/** Signs in at the provider's login form as `login` and comes back to the console. */
async function finish(hqUrl: string, page: Page, login: string) {
  await page.locator('input[name="login"]').fill(login);
  await page.locator('input[name="password"]').fill('any-password').catch(() => undefined);
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL((u) => u.href.startsWith(hqUrl), { timeout: 30_000 });
}

async function signIn(hqUrl: string, login: string) {
  const b = await begin(hqUrl);
  await finish(hqUrl, b.page, login);
  return b;
}

describe('console sign-in with the organisation\'s identity provider (OpenID Connect, code + PKCE)', { skip, timeout: 180_000 }, () => {
  it('a real provider signs people in through Chromium; groups map to roles; someone without a role, or named by an address the provider did not verify, is refused; every sign-in is in the audit trail', async () => {
    const { hqUrl, trail } = await providerAndNode();

    // An approver of asia-pilot by group: signed in, acts with that role.
    const ana = await signIn(hqUrl, 'ana');
    await waitFor('the console to show ana signed in', async () => (await ana.page.content()).includes('ana@example.com'), 20_000);
    const cookies = await ana.context.cookies(hqUrl);
    const session = cookies.find((k) => k.name === 'sluice_session');
    assert.ok(session, 'a console session');

    // Someone the topology gives no role: refused, no session.
    const bo = await signIn(hqUrl, 'bo');
    await waitFor('the refusal to show', async () => (await bo.page.content()).includes('give them no role'), 20_000);
    assert.ok(!(await bo.context.cookies(hqUrl)).some((k) => k.name === 'sluice_session'));

    // Someone who typed the admin's address at a provider that did not verify it: refused, no session.
    const eve = await signIn(hqUrl, 'eve');
    await waitFor('the refusal to show', async () => (await eve.page.content()).includes('is a verified address'), 20_000);
    assert.match(await eve.page.content(), /EMAIL_UNVERIFIED|not say that chief@example\.com is a verified address/);
    assert.ok(!(await eve.context.cookies(hqUrl)).some((k) => k.name === 'sluice_session'), 'eve is not signed in as the admin');

    // A person named in access.people: admin.
    const chief = await signIn(hqUrl, 'chief');
    await waitFor('the console to show chief signed in', async () => (await chief.page.content()).includes('chief@example.com'), 20_000);

    const signIns = (await trail()).filter((e) => e.act === 'sign-in').map((e) => [e.who, e.role, e.via, e.outcome]);
    assert.deepEqual(signIns, [
      ['ana@example.com', 'approver', 'oidc', 'ok'],
      ['-', null, 'oidc', 'FORBIDDEN_ROLE'],
      ['-', null, 'oidc', 'EMAIL_UNVERIFIED'],
      ['chief@example.com', 'admin', 'oidc', 'ok'],
    ]);
  });

  it('one network beginning sign-ins in a loop is answered 429 with Retry-After; many networks together fill the node and are refused, never pushing out another person\'s sign-in in progress', async () => {
    const { hqUrl, trail } = await providerAndNode();
    // Ana (from 127.0.0.1) is at the provider's login form: her sign-in is in progress.
    const ana = await begin(hqUrl);

    // Another address begins sign-ins in a loop without ever finishing one: more than the
    // node holds in progress, unless it is stopped first.
    const flooder = new Agent({ localAddress: '127.0.1.2' });
    onTeardown(() => flooder.close());
    let begun = 0;
    let throttled: { status: number; retryAfter: string | undefined; body: string } | undefined;
    for (let i = 0; i < 1100 && !throttled; i++) {
      const res = await request(`${hqUrl}/ui/sign-in/oidc?next=/ui/packages`, { dispatcher: flooder });
      const body = await res.body.text();
      if (res.statusCode === 303) begun++;
      else throttled = { status: res.statusCode, retryAfter: res.headers['retry-after'] as string | undefined, body };
    }

    // Many networks (a /24 each), 20 sign-ins each: past the node's 1,000 in progress the next
    // are refused, rather than evicting ana's.
    let full = 0;
    for (let n = 2; n <= 52; n++) {
      const net = new Agent({ localAddress: `127.0.${n}.2` });
      for (let i = 0; i < 20; i++) {
        const res = await request(`${hqUrl}/ui/sign-in/oidc?next=/ui/packages`, { dispatcher: net });
        const body = await res.body.text();
        if (res.statusCode === 429 && /sign-ins are in progress at this node/.test(body)) full++;
      }
      await net.close();
    }
    assert.ok(full >= 20, `refused once the node was full: ${full}`);

    await finish(hqUrl, ana.page, 'ana');
    await waitFor('the console to show ana signed in', async () => (await ana.page.content()).includes('ana@example.com'), 20_000);
    assert.ok((await ana.context.cookies(hqUrl)).some((k) => k.name === 'sluice_session'), 'ana\'s sign-in completed');

    assert.ok(throttled, `the flooding address was never stopped (${begun} sign-ins begun)`);
    assert.equal(begun, 20, JSON.stringify(throttled).slice(0, 600));
    assert.equal(throttled.status, 429);
    assert.match(throttled.body, /TOO_MANY_ATTEMPTS/);
    assert.match(throttled.body, /too many sign-ins begun from 127\.0\.1\.0\/24/);
    const retryAfter = Number(throttled.retryAfter);
    assert.ok(retryAfter >= 1 && retryAfter <= 60, `Retry-After: ${throttled.retryAfter}`);
    // Others are not held up by it.
    const other = await request(`${hqUrl}/ui/sign-in/oidc`);
    await other.body.dump();
    assert.equal(other.statusCode, 303);
    assert.ok((await trail()).some((e) => e.who === 'ana@example.com' && e.act === 'sign-in' && e.outcome === 'ok'));
  });
});
