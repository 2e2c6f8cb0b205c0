import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import Provider from 'oidc-provider';
import { request } from 'undici';
import { chromiumPath, launchChromium } from '../helpers/browser.js';
import { ADMIN_TOKEN, makeCluster, startNode } from '../helpers/cluster.js';
import { freePorts, onTeardown, waitFor } from '../helpers/env.js';

const skip = !chromiumPath() && !process.env.CI ? 'needs chromium: apt-get install chromium' : false;

/** Each person the test's identity provider knows, and their groups. */
const PEOPLE: Record<string, string[]> = { ana: ['asia-it'], bo: ['finance'], chief: [] };

describe('console sign-in with the organisation\'s identity provider (OpenID Connect, code + PKCE)', { skip, timeout: 180_000 }, () => {
  it('a real provider signs people in through Chromium; groups map to roles; someone without a role is refused; every sign-in is in the audit trail', async () => {
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
      claims: { openid: ['sub'], email: ['email'], profile: ['groups'] },
      findAccount: async (_ctx: unknown, id: string) => ({ accountId: id, claims: async () => ({ sub: id, email: `${id}@example.com`, groups: PEOPLE[id] ?? [] }) }),
      pkce: { required: () => true },
      features: { devInteractions: { enabled: true } },
    });
    const idp = provider.listen(idpPort);
    onTeardown(() => new Promise<void>((resolve) => idp.close(() => resolve())));
    assert.equal((idp.address() as AddressInfo).port, idpPort);
    await startNode(c.topology, 'hq', { ...c.secrets, oidcClientSecret: 'console-secret-0123456789' });

    const browser = await launchChromium();
    const signIn = async (login: string) => {
      const context = await browser.newContext();
      // Nothing leaves loopback: the provider's pages link a web font, which is not fetched.
      await context.route(/^https?:\/\/(?!127\.0\.0\.1[:/])/, (route) => route.abort());
      const page = await context.newPage();
      await page.goto(`${hqUrl}/ui/sign-in`);
      await page.getByRole('link', { name: 'Sign in with your organisation' }).click();
      await page.locator('input[name="login"]').fill(login);
      await page.locator('input[name="password"]').fill('any-password').catch(() => undefined);
      await page.getByRole('button', { name: 'Sign-in' }).click();
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.waitForURL((u) => u.href.startsWith(hqUrl), { timeout: 30_000 });
      return { context, page };
    };

    // An approver of asia-pilot by group: signed in, acts with that role.
    const ana = await signIn('ana');
    await waitFor('the console to show ana signed in', async () => (await ana.page.content()).includes('ana@example.com'), 20_000);
    const cookies = await ana.context.cookies(hqUrl);
    const session = cookies.find((k) => k.name === 'sluice_session');
    assert.ok(session, 'a console session');

    // Someone the topology gives no role: refused, no session.
    const bo = await signIn('bo');
    await waitFor('the refusal to show', async () => (await bo.page.content()).includes('give them no role'), 20_000);
    assert.ok(!(await bo.context.cookies(hqUrl)).some((k) => k.name === 'sluice_session'));

    // A person named in access.people: admin.
    const chief = await signIn('chief');
    await waitFor('the console to show chief signed in', async () => (await chief.page.content()).includes('chief@example.com'), 20_000);

    const trail = (await (await request(`${hqUrl}/v1/audit?limit=1000`, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })).body.json()) as { entries: { who: string; role: string | null; via: string | null; act: string; outcome: string }[] };
    const signIns = trail.entries.filter((e) => e.act === 'sign-in').map((e) => [e.who, e.role, e.via, e.outcome]);
    assert.deepEqual(signIns, [
      ['ana@example.com', 'approver', 'oidc', 'ok'],
      ['-', null, 'oidc', 'FORBIDDEN_ROLE'],
      ['chief@example.com', 'admin', 'oidc', 'ok'],
    ]);
  });
});
