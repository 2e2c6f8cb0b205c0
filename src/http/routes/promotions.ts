import type { FastifyInstance } from 'fastify';
import { ringInScope, roleAllows } from '../../auth/roles.js';
import { SluiceError } from '../../errors.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { principalOf, requireRole } from '../require-token.js';

/**
 * GET /v1/promotions (admin, approver; primary): the rings' promotion gates, every package
 * waiting at one with its verdict and the evidence behind it, and the promotions made. An
 * approver sees the gates that start or end in its rings, and their totals without the
 * per-site figures (report data, for roles that read reports).
 */
export function registerPromotionRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'promotions' | 'node' | 'topology' | 'credentials' | 'refusals' | 'sessions'>): void {
  app.get(PATHS.promotions, { onRequest: requireRole(deps, 'promotions') }, async (request) => {
    if (!deps.node.isPrimary) throw new SluiceError('NOT_PRIMARY', `node ${deps.node.name} is not the primary; promotion gates are decided at ${deps.topology.primary}`);
    const p = principalOf(request);
    const mine = (g: { from: string; to: string }) => p.role !== 'approver' || ringInScope(p.scope.rings, g.from) || ringInScope(p.scope.rings, g.to);
    const gates = [...deps.topology.promotions.values()].filter(mine).map((g) => ({ from: g.from, to: g.to, mode: g.mode, afterMs: g.afterMs, minClients: g.minClients, minSucceededPercent: g.minSucceededPercent, maxFailed: g.maxFailed, critical: g.critical }));
    const view = deps.promotions?.view() ?? { pending: [], decided: [] };
    // Per-site figures are report data: a role that does not read reports sees the totals.
    const sites = roleAllows(p.role, 'reports');
    const trim = <T extends { evidence: { sites: unknown } }>(v: T): T => (sites ? v : { ...v, evidence: { ...v.evidence, sites: {} } });
    return { gates, pending: view.pending.filter(mine).map(trim), decided: view.decided.filter(mine).map(trim) };
  });
}
