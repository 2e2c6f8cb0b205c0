import type { FastifyInstance } from 'fastify';
import { complianceRows } from '../../reports/compliance.js';
import { reportBatchSchema } from '../../reports/report-store.js';
import { SluiceError } from '../../errors.js';
import { nodePush } from '../node-push.js';
import { PATHS } from '../../protocol/paths.js';
import { HTTP_LIMITS, type HttpDeps } from '../deps.js';
import { authorize, principalOf, requireRole, requireToken } from '../require-token.js';
import { visibleSites } from '../../auth/site-scope.js';
import { RING_ALL } from '../../catalog/records.js';
import { escapeUnprintable } from '../../domain/printable.js';

export function registerReportRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'endpointTokens' | 'node' | 'reports' | 'rollup' | 'credentials' | 'refusals' | 'sessions' | 'metrics' | 'peerAuth' | 'catalog' | 'topology'>): void {
  /** Endpoints report install outcomes with their site's token (SLUICE_ENDPOINT_TOKEN). */
  app.post(PATHS.reports, { onRequest: requireToken(deps.endpointTokens, deps.refusals, 'endpoint') }, async (request) => {
    const parsed = reportBatchSchema.safeParse(request.body);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new SluiceError('BAD_REQUEST', `invalid report batch at ${issue?.path.join('.') || 'body'}: ${issue?.message ?? 'invalid'}; expected { "reports": [{ clientId, package, status, error?, ring?, at }] } (1-1000 reports)`);
    }
    // Only packages of this node's catalog are counted: made-up ids would grow the site's
    // summary, and every rollup above it, without bound. An endpoint's history can name a
    // package this node does not know yet (it synced from a node further ahead): those are
    // left out and said so, the rest of the batch counts.
    // An endpoint's ring is one this node serves (or all): a report naming another is refused,
    // so one site's endpoints cannot move another ring's promotion gate. Without a ring, the
    // ring of a node serving exactly one is taken.
    const rings = deps.node.rings;
    const foreign = parsed.data.reports.find((r) => r.ring !== undefined && r.ring !== RING_ALL && !rings.includes(r.ring));
    if (foreign) throw new SluiceError('BAD_REQUEST', `report for ${foreign.package.slice(0, 200)} names ring "${foreign.ring}", which node ${deps.node.name} does not serve (its rings: ${rings.join(', ') || 'none: all only'}); set the endpoint's ring to one of them`);
    // An installer's message is an endpoint's text: what a terminal would act on is written out.
    const tagged = parsed.data.reports.map((r) => ({ ...r, ...(r.error !== undefined ? { error: escapeUnprintable(r.error).slice(0, 2000) } : {}), ...(r.ring === undefined && rings.length === 1 ? { ring: rings[0]! } : {}) }));
    const known = tagged.filter((r) => deps.catalog.state.get(r.package) !== undefined);
    const unknown = parsed.data.reports.length - known.length;
    if (unknown > 0) deps.metrics.reportsIgnored.inc(unknown);
    const outcome = known.length ? await deps.reports.record(known) : { accepted: 0, unchanged: 0 };
    return unknown ? { ...outcome, ignored: unknown, note: `${unknown} report(s) name packages not in this node's catalog (seq ${deps.catalog.seq}); they were not counted` } : outcome;
  });

  /** Figures carried on a disk from a site without a link (sluice report --import); admin. */
  app.post(PATHS.reportsImport, { onRequest: requireRole(deps, 'import'), bodyLimit: HTTP_LIMITS.pushBodyBytes }, async (request) => {
    authorize(request, 'import', { node: deps.node.name });
    const adopted = deps.rollup.adoptFile(request.body);
    await deps.reports.saveImported(adopted.node, request.body);
    return adopted;
  });

  /** A downstream node pushes its subtree's figures (SLUICE_PEER_TOKEN). */
  app.post(PATHS.reportsRollup, ...nodePush(deps, 'reports', (body, caller) => deps.rollup.accept(body, caller)));

  /**
   * Per site, per package, clients by status, for this node's subtree (admin); and compliance
   * per approved package at each site where it applies (reports/compliance.ts).
   */
  app.get(PATHS.reports, { onRequest: requireRole(deps, 'reports') }, async (request) => {
    const q = request.query as { package?: string; site?: string };
    const sites = visibleSites(principalOf(request), deps.rollup.subtree(), deps.topology);
    return {
      node: deps.node.name,
      at: new Date().toISOString(),
      sites,
      compliance: complianceRows(deps.catalog.state, deps.topology, sites, Date.now(), { package: q.package, site: q.site }),
    };
  });
}

