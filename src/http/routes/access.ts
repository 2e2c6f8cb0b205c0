import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { fairNewest } from '../../audit/fair-newest.js';
import { ROLES } from '../../auth/roles.js';
import { visibleSites } from '../../auth/site-scope.js';
import { isPrintable } from '../../domain/printable.js';
import { SluiceError } from '../../errors.js';
import { parseDuration } from '../../topology/units.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { actorOf, auditTarget, principalOf, requireRole } from '../require-token.js';
import { nodePush } from '../node-push.js';

const scopeList = z.array(z.string().min(1).max(64).regex(/^[A-Za-z0-9._*-]+$/, 'names and patterns use letters, digits, . _ - and *')).max(100).optional();
const newToken = z
  .object({
    // The name is what the audit trail shows as "who": it must print as itself.
    name: z.string().min(1).max(64).refine(isPrintable, 'a name of printable characters (no control or format characters)'),
    role: z.enum(ROLES),
    rings: scopeList,
    nodes: scopeList,
    regions: scopeList,
    sites: scopeList,
    expires: z.string().max(20).optional(),
  })
  .strict();

/** Entries one audit page holds at most. */
const AUDIT_PAGE_MAX = 1000;

/**
 * Named tokens (admin): POST /v1/tokens makes one and answers it once, GET lists them (never
 * a token or its hash), DELETE /v1/tokens/NAME revokes one at once. GET /v1/audit (admin,
 * auditor): this node's audit trail, oldest first after `after`; with `tree=1`, the newest
 * entries of this node and of every node below it, from their pushes. An auditor reads the
 * trails of the sites of its scope only, as it reads their reports (auth/site-scope.ts).
 */
export function registerAccessRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'credentials' | 'audit' | 'auditRollup' | 'refusals' | 'sessions' | 'metrics' | 'peerAuth' | 'node' | 'topology'>): void {
  const admin = requireRole(deps, 'tokens');
  const named = () => {
    if (!deps.credentials.named) throw new SluiceError('NOT_READY', 'named tokens are not available on this node yet; try again');
    return deps.credentials.named;
  };

  app.get(PATHS.tokens, { onRequest: admin }, async () => ({ tokens: named().list() }));

  app.post(PATHS.tokens, { onRequest: admin }, async (request, reply) => {
    const parsed = newToken.safeParse(request.body ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new SluiceError('BAD_REQUEST', `token: ${issue.path.join('.') || 'body'}: ${issue.message}; expected { "name", "role": ${ROLES.join('|')}, "rings"|"nodes"|"regions"|"sites": [...], "expires": "90d" }`);
    }
    const b = parsed.data;
    auditTarget(request, `${b.name} (${b.role})`);
    let expiresInMs: number | null = null;
    if (b.expires !== undefined) {
      const ms = parseDuration(b.expires);
      if (ms === undefined || ms <= 0) throw new SluiceError('BAD_REQUEST', `expires "${b.expires}": expected a duration longer than zero, such as 90d, 12h or 30m`);
      expiresInMs = ms;
    }
    const scope = Object.fromEntries((['rings', 'nodes', 'regions', 'sites'] as const).filter((k) => b[k]?.length).map((k) => [k, b[k]]));
    const made = await named().add({ name: b.name, role: b.role, scope, expiresInMs, by: actorOf(request) });
    void reply.code(201);
    return { ...made.record, token: made.token };
  });

  app.delete(PATHS.token, { onRequest: admin }, async (request) => {
    const { name } = request.params as { name: string };
    auditTarget(request, name);
    if (!(await named().revoke(name))) throw new SluiceError('TOKEN_NOT_FOUND', `no token named ${name.slice(0, 64)} on this node; see "sluice token list"`);
    return { revoked: name };
  });

  app.get(PATHS.audit, { onRequest: requireRole(deps, 'audit') }, async (request) => {
    const q = request.query as { after?: string; limit?: string; tree?: string };
    const after = q.after === undefined ? 0 : Number(q.after);
    const limit = q.limit === undefined ? 100 : Number(q.limit);
    if (!Number.isSafeInteger(after) || after < 0 || !Number.isSafeInteger(limit) || limit < 1 || limit > AUDIT_PAGE_MAX) {
      throw new SluiceError('BAD_REQUEST', `expected ?after=SEQ (0 or more) and ?limit=N (1 to ${AUDIT_PAGE_MAX})`);
    }
    const reader = principalOf(request);
    if (q.tree === '1') {
      // This node's newest entries and each node's pushed ones, of the sites the reader may
      // read, the newest `limit` shared fairly between nodes; oldest first.
      return { entries: fairNewest(visibleSites(reader, deps.auditRollup.byNode(), deps.topology), limit) };
    }
    if (Object.keys(visibleSites(reader, { [deps.node.name]: true }, deps.topology)).length === 0) {
      throw new SluiceError('FORBIDDEN_ROLE', `${reader.who} (${reader.role} of ${[...(reader.scope.sites ?? []), ...(reader.scope.regions ?? []).map((r) => `region ${r}`)].join(', ') || 'no sites'}) may not read the audit trail of ${deps.node.name}, which is outside its scope; "sluice audit --tree" shows the sites it may read`);
    }
    const entries = await deps.audit.read(after, limit);
    return { entries, last: deps.audit.lastSeq };
  });

  /** A downstream node pushes the newest audit entries of its subtree (certificate or peer token). */
  app.post(PATHS.auditRollup, ...nodePush(deps, 'audit', (body, caller) => deps.auditRollup.accept(body, caller)));
}
