import { PATHS, blobUrl } from '../../protocol/paths.js';
import type { UpdateEntry, UpdatesAnswer } from '../../protocol/updates.js';
import type { FastifyInstance } from 'fastify';
import type { FileEntry } from '../../catalog/records.js';
import { SluiceError } from '../../errors.js';
import { bySeverity } from '../../domain/severity.js';
import type { HttpDeps } from '../deps.js';

const LABEL = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * GET /v1/updates?platform=P&language=L&ring=R: what an endpoint should install, from this
 * node. Approved (for R or all), not declined, not superseded by an approved package, with
 * files matching P and L (files without a label match everything). A package whose files
 * this node holds verified is "available", with URLs here; one still replicating is
 * "pending", never with a URL to a partial. The endpoint checks everything against the
 * signed catalog itself.
 */
export function registerUpdateRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'catalog' | 'node' | 'store' | 'topology'>): void {
  app.get(PATHS.updates, async (request) => {
    const q = request.query as Record<string, string | undefined>;
    for (const key of ['platform', 'language', 'ring'] as const) {
      const v = q[key];
      if (v !== undefined && !LABEL.test(v)) throw new SluiceError('BAD_REQUEST', `"${key}" must be a label of letters, digits, ".", "_" or "-", got "${v.slice(0, 40)}"`);
    }
    // Without a ring an endpoint belongs to its node's rings.
    const rings = q.ring ? [q.ring] : [...deps.node.rings];
    const matches = (f: FileEntry) => (q.platform === undefined || f.platform === undefined || f.platform === q.platform) && (q.language === undefined || f.language === undefined || f.language === q.language);
    const state = deps.catalog.state;
    const updates: UpdateEntry[] = [];
    for (const pkg of state.all()) {
      if (!state.isWantedBy(pkg, rings)) continue;
      const files = pkg.files.filter(matches);
      if (files.length === 0) continue;
      const available = files.every((f) => deps.store.has(f.sha256));
      const approvedAt = state.approvedAtMs(pkg, rings)!;
      updates.push({
        id: pkg.id,
        name: pkg.name,
        version: pkg.version,
        severity: pkg.severity,
        classification: pkg.classification ?? null,
        approvedAt: new Date(approvedAt).toISOString(),
        deadline: new Date(approvedAt + deps.topology.deadlinesMs[pkg.severity]).toISOString(),
        state: available ? ('available' as const) : ('pending' as const),
        files: files.map((f) => ({ ...f, url: available ? blobUrl(deps.node.url, f.sha256) : null })),
      });
    }
    updates.sort((a, b) => bySeverity(a.severity, b.severity) || Date.parse(a.approvedAt) - Date.parse(b.approvedAt));
    return { node: deps.node.name, catalogSeq: deps.catalog.seq, updates } satisfies UpdatesAnswer;
  });
}
