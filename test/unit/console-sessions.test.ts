import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { AdminTokens } from '../../src/auth/admin-tokens.js';
import { ConsoleSessions } from '../../src/auth/console-sessions.js';
import { Credentials } from '../../src/auth/credentials.js';
import { NamedTokens } from '../../src/auth/named-tokens.js';
import { openMetaDb, sublevels } from '../../src/store/meta-db.js';
import type { Grant } from '../../src/topology/types.js';
import { PendingSignIns } from '../../src/console/pending-sign-ins.js';
import { tempDir } from '../helpers/env.js';

const ENV_TOKEN = 'env-admin-token-0123456789abcdef';
const HOUR = 3600_000;

async function tokensAndCredentials() {
  const db = await openMetaDb(tempDir());
  after(() => db.close());
  const named = await NamedTokens.open(sublevels(db).tokens);
  return { named, credentials: new Credentials(new AdminTokens(ENV_TOKEN), named) };
}

describe('console sessions, on a controlled clock', () => {
  it('a session made from a named token ends when the token expires, not 8 hours after sign-in; its reason is kept for later requests', async () => {
    const { named, credentials } = await tokensAndCredentials();
    let now = Date.parse('2026-03-02T09:00:00Z');
    const sessions = new ConsoleSessions(credentials, { now: () => now });
    const { token } = await named.add({ name: 'amy', role: 'approver', scope: { rings: ['pilot'] }, expiresInMs: HOUR, by: 'tester' }, now);
    const s = sessions.signIn(token);
    assert.equal(s.expiresAt, now + HOUR, 'no longer than its token');
    assert.equal(s.credential.kind, 'named');
    assert.ok(!JSON.stringify(s).includes(token), 'the session keeps a reference to the token, not the token');

    now += HOUR - 1;
    assert.equal(sessions.find(s.id)?.actor, 'amy');
    now += 1;
    const ended = sessions.check(s.id)?.ended;
    assert.equal(ended?.reason, 'expired');
    assert.match(ended!.message, /token amy .* expired at 2026-03-02T10:00:00\.000Z/);
    assert.equal(ended!.principal?.who, 'amy');
    assert.equal(sessions.find(s.id), undefined);
    assert.equal(sessions.check(s.id)?.ended?.reason, 'expired', 'told again on the next request');
    assert.equal(sessions.check('never-a-session')?.ended?.reason, 'ended');
    assert.equal(sessions.check(undefined), undefined);
  });

  it('sessions from SLUICE_ADMIN_TOKEN and from tokens without expiry last their 8 hours', async () => {
    const { named, credentials } = await tokensAndCredentials();
    let now = Date.parse('2026-03-02T09:00:00Z');
    const sessions = new ConsoleSessions(credentials, { now: () => now });
    const { token } = await named.add({ name: 'pat', role: 'publisher', scope: {}, expiresInMs: null, by: 'tester' }, now);
    const a = sessions.signIn(ENV_TOKEN);
    const b = sessions.signIn(token);
    assert.equal(a.expiresAt, now + 8 * HOUR);
    assert.equal(b.expiresAt, now + 8 * HOUR);
    now += 8 * HOUR - 1;
    assert.ok(sessions.find(a.id) && sessions.find(b.id));
    now += 1;
    assert.equal(sessions.check(a.id)?.ended?.reason, 'ended');
    assert.equal(sessions.check(b.id)?.ended?.reason, 'ended');
  });

  it('a session from the identity provider ends when the topology no longer gives the person its role or scope', async () => {
    const { credentials } = await tokensAndCredentials();
    const people = new Map<string, Grant>([['chief@example.com', { role: 'admin', scope: {} }]]);
    const groups = new Map<string, Grant>([['asia-it', { role: 'approver', scope: { rings: ['asia-pilot'] } }]]);
    const sessions = new ConsoleSessions(credentials, { access: { people, groups } });
    const ana = sessions.open({ who: 'ana@example.com', role: 'approver', scope: { rings: ['asia-pilot'] }, via: 'session' }, ['asia-it']);
    const chief = sessions.open({ who: 'chief@example.com', role: 'admin', scope: {}, via: 'session' }, []);
    assert.ok(sessions.find(ana.id) && sessions.find(chief.id));
    groups.set('asia-it', { role: 'approver', scope: { rings: ['asia-pilot', 'broad'] } });
    people.delete('chief@example.com');
    assert.equal(sessions.check(ana.id)?.ended?.reason, 'changed');
    assert.match(sessions.check(chief.id)!.ended!.message, /no longer give chief@example\.com the role admin/);
  });
});

describe('sign-ins in progress with the identity provider', () => {
  it('one address beginning sign-ins in a loop pushes out only its own, never another person\'s', () => {
    const pending = new PendingSignIns<string>(100, 5);
    pending.add('ana-state', '192.0.2.7', 'ana');
    for (let i = 0; i < 1000; i++) pending.add(`flood-${i}`, '198.51.100.9', 'x');
    assert.equal(pending.size, 6, 'the flooding address keeps its newest 5');
    assert.equal(pending.take('flood-994'), undefined);
    assert.equal(pending.take('flood-999'), 'x');
    assert.equal(pending.take('ana-state'), 'ana');
    assert.equal(pending.take('ana-state'), undefined, 'a state is used once');
  });

  it('many sources still share a bounded store: once full, a source holding none is refused, and nobody else\'s is evicted', () => {
    const pending = new PendingSignIns<number>(50, 5);
    pending.add('victim', 'victim-net', -1);
    let refused = 0;
    for (let i = 0; i < 500; i++) {
      try {
        pending.add(`s${i}`, `net-${i % 200}`, i);
      } catch (err) {
        assert.match((err as Error).message, /50 sign-ins are in progress at this node/);
        refused++;
      }
    }
    assert.equal(pending.size, 50);
    assert.ok(refused > 0);
    assert.equal(pending.take('victim'), -1, 'the first sign-in is still there');
  });
});
