import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { CatalogWriter } from '../../catalog/catalog-writer.js';
import { approveManyRecords, approveRecords, checkPublishable, declineRecords, packageJson, parsePublishMeta, publishRecords, type PublishMeta } from '../../catalog/decisions.js';
import { RING_ALL, parsePackageId, type FileEntry } from '../../catalog/records.js';
import { SluiceError } from '../../errors.js';
import type { StagedBlob } from '../../store/blob-store.js';
import { PATHS } from '../../protocol/paths.js';
import type { HttpDeps } from '../deps.js';
import { actorOf, auditTarget, authorize, requireRole } from '../require-token.js';
import { intParam } from '../params.js';
import { ADVISORY_ID } from '../../domain/advisory-id.js';
import type { CatalogState, PackageView } from '../../catalog/catalog-state.js';

/** The filters of GET /v1/packages, checked: a bad value is a 400 that says what is expected. */
function packageFilter(state: CatalogState, q: Record<string, string | undefined>, topology: HttpDeps['topology'], advisory: ReadonlySet<string> | undefined): (p: PackageView) => boolean {
  const states = ['new', 'approved', 'declined', 'superseded'];
  if (q.state !== undefined && !states.includes(q.state)) throw new SluiceError('BAD_REQUEST', `state must be one of ${states.join(', ')}`);
  for (const k of ['feed', 'source', 'name', 'ring', 'q', 'advisory'] as const) if (q[k] !== undefined && (q[k]!.length === 0 || q[k]!.length > 200)) throw new SluiceError('BAD_REQUEST', `${k} must be 1 to 200 characters`);
  const source = q.source === undefined ? undefined : q.source.includes('@') ? parsePackageId(q.source) : { name: q.source, version: undefined };
  if (q.source !== undefined && !source) throw new SluiceError('BAD_REQUEST', 'source must be a source name, or name@version');
  // A ring or feed nobody has is a typo, not "no package matches".
  if (q.ring !== undefined && q.ring !== RING_ALL && !topology.rings.includes(q.ring)) throw new SluiceError('UNKNOWN_RING', `unknown ring "${q.ring}"; expected "all" or one of: ${topology.rings.join(', ') || '(no rings in the topology)'}`);
  const feeds = new Set([...topology.feeds.keys(), ...state.feedNames()]);
  if (q.feed !== undefined && q.feed !== '-' && !feeds.has(q.feed)) throw new SluiceError('FEED_NOT_FOUND', `no feed "${q.feed}"; feeds: ${[...feeds].join(', ') || 'none'} (or "-" for packages published by people)`);
  const text = q.q?.toLowerCase();
  return (p) =>
    (q.state === undefined || state.stateOf(p) === q.state) &&
    (q.feed === undefined || (q.feed === '-' ? p.feedName === undefined : p.feedName === q.feed)) &&
    (q.name === undefined || p.name === q.name) &&
    (source === undefined || (p.source !== undefined && p.source.name === source.name && (source.version === undefined || p.source.version === source.version))) &&
    (q.ring === undefined || state.approvedFor(p, q.ring)) &&
    (advisory === undefined || advisory.has(p.id)) &&
    (text === undefined || p.id.toLowerCase().includes(text) || (p.classification ?? '').toLowerCase().includes(text));
}

/** Packages one bulk approval may name. */
const MAX_APPROVALS = 1000;


export function registerPackageRoutes(app: FastifyInstance, deps: Pick<HttpDeps, 'catalog' | 'maxUploadBytes' | 'node' | 'store' | 'credentials' | 'refusals' | 'sessions' | 'topology' | 'writer' | 'approvalCheck' | 'advisories'>): void {
  const publisher = requireRole(deps, 'publish');
  const approver = requireRole(deps, 'approve');
  const decliner = requireRole(deps, 'decline');
  const primary = () => deps.topology.nodes.get(deps.topology.primary)!;
  /** The packages an advisory names: advisories are kept where the feeds are read, at the primary. */
  const advisoryPackages = async (id: string): Promise<readonly string[] | undefined> => {
    if (!ADVISORY_ID.test(id)) throw new SluiceError('BAD_REQUEST', 'advisory must be an advisory id such as RHSA-2024:1234');
    if (!deps.advisories) {
      if (deps.writer) return undefined;
      throw new SluiceError('NOT_PRIMARY', `advisories are kept at the primary, where the feeds are read; ask ${primary().name} at ${primary().url} (--server ${primary().url})`);
    }
    return deps.advisories.packagesOf(id);
  };
  const primaryWriter = (): CatalogWriter => {
    if (!deps.writer) {
      const primary = deps.topology.nodes.get(deps.topology.primary)!;
      throw new SluiceError('NOT_PRIMARY', `node ${deps.node.name} is not the primary; send administrative calls to ${primary.name} at ${primary.url} (--server ${primary.url})`);
    }
    return deps.writer;
  };

  /**
   * The catalog's packages. Without a filter or `limit`, all of them (as before paging);
   * with any, a page in publish order: `limit` (1-1000) after the cursor `after` (the last
   * page's `next`), filtered by `state`, `feed` (`-`: published by people), `source` (a
   * source name, or name@version), `name`, `ring` (approved for it or all) and `q` (in the
   * id or classification), with `total` matches.
   */
  app.get(PATHS.packages, async (request) => {
    const q = request.query as Record<string, string | undefined>;
    const paged = ['limit', 'after', 'state', 'feed', 'source', 'name', 'ring', 'q', 'advisory'].some((k) => q[k] !== undefined);
    if (!paged) return { seq: deps.catalog.seq, packages: [...deps.catalog.state.all()].map((p) => packageJson(deps.catalog, p)) };
    const limit = intParam(q, 'limit', 100, 1, 1000);
    const after = intParam(q, 'after', 0, 0, Number.MAX_SAFE_INTEGER);
    const named = q.advisory === undefined ? undefined : await advisoryPackages(q.advisory);
    // An advisory nobody listed is a typo (or a feed without updateinfo.xml), not "no package matches".
    if (q.advisory !== undefined && named === undefined) throw new SluiceError('ADVISORY_NOT_FOUND', `no feed listed advisory ${q.advisory}: check the id as the vendor writes it (e.g. RHSA-2024:1234), and that the feed's repository has updateinfo.xml`);
    const advisory = named === undefined ? undefined : new Set(named);
    const matches = packageFilter(deps.catalog.state, q, deps.topology, advisory);
    const page: PackageView[] = [];
    let total = 0;
    let next: number | null = null;
    for (const p of deps.catalog.state.all()) {
      if (!matches(p)) continue;
      total++;
      if (p.published.seq <= after) continue;
      if (page.length < limit) page.push(p);
      else next ??= page.at(-1)!.published.seq;
    }
    return { seq: deps.catalog.seq, total, packages: page.map((p) => packageJson(deps.catalog, p)), next };
  });

  app.get(PATHS.package, async (request) => {
    const { id } = request.params as { id: string };
    const pkg = deps.catalog.state.get(id);
    if (!pkg) throw new SluiceError('PACKAGE_NOT_FOUND', `no package ${id}; see "sluice packages"`);
    return packageJson(deps.catalog, pkg);
  });

  app.post(PATHS.approve, { onRequest: approver }, async (request) => {
    const writer = primaryWriter();
    const { id } = request.params as { id: string };
    const body = (request.body ?? {}) as { ring?: unknown };
    if (typeof body !== 'object' || (body.ring !== undefined && typeof body.ring !== 'string')) {
      throw new SluiceError('BAD_REQUEST', 'expected a JSON body like { "ring": "pilot" } (or {} for "all")');
    }
    const ring = body.ring ?? 'all';
    auditTarget(request, `${id} for ${ring}`);
    authorize(request, 'approve', { rings: [ring] });
    const warnings = (await deps.approvalCheck?.([id], ring)) ?? [];
    const records = await writer.append((log) => approveRecords(log, id, ring, deps.topology.rings, actorOf(request), new Date().toISOString()));
    return { ...packageJson(deps.catalog, deps.catalog.state.get(id)!), appended: records.map((r) => r.seq), warnings };
  });

  /**
   * Approves several packages for one ring at once (patch day: every new security update of
   * a feed for the pilot ring): all or nothing, in one signed append, so a typo in one id
   * approves none of them.
   */
  app.post(PATHS.approvals, { onRequest: approver }, async (request) => {
    const writer = primaryWriter();
    const body = (request.body ?? {}) as { ids?: unknown; source?: unknown; advisory?: unknown; feed?: unknown; ring?: unknown; dryRun?: unknown };
    const usage = `expected { "ids": ["name@version", ...] (1 to ${MAX_APPROVALS}), "source": "name@version" (every binary built from that source version; "feed" to take one feed's) or "advisory": "RHSA-2024:1234" (every package an RPM feed's advisory names), "ring": "pilot" (default "all"), "dryRun": true to see what it would do }`;
    if (typeof body !== 'object' || (body.ring !== undefined && typeof body.ring !== 'string') || (body.dryRun !== undefined && typeof body.dryRun !== 'boolean') || (body.feed !== undefined && typeof body.feed !== 'string') || [body.ids, body.source, body.advisory].filter((v) => v !== undefined).length !== 1) throw new SluiceError('BAD_REQUEST', usage);
    let ids: string[];
    if (body.advisory !== undefined) {
      if (typeof body.advisory !== 'string') throw new SluiceError('BAD_REQUEST', usage);
      const named = await advisoryPackages(body.advisory);
      ids = (named ?? []).filter((id) => deps.catalog.state.get(id) && (body.feed === undefined || deps.catalog.state.get(id)!.feed?.name === body.feed));
      if (ids.length === 0) throw new SluiceError('PACKAGE_NOT_FOUND', `no package of the catalog is named by advisory ${body.advisory}${body.feed ? ` in feed ${String(body.feed)}` : ''}${named ? '' : ' (no feed listed it: check the id, and that the feed\'s repository has updateinfo.xml)'}; see "sluice packages --advisory ${body.advisory}"`);
      // An advisory id is the vendor's word, and another feed's mirror may list the same one:
      // as for a source, never mix two feeds' packages in one approval.
      const feeds = [...new Set(ids.map((id) => deps.catalog.state.get(id)!.feedName ?? '-'))].sort();
      if (feeds.length > 1) throw new SluiceError('BAD_REQUEST', `advisory ${body.advisory} is listed by feeds ${feeds.join(' and ')}; name the vendor whose advisory this is with "feed" (sluice approve --advisory ${body.advisory} --feed ${feeds[0]})`);
    } else if (body.source !== undefined) {
      const source = typeof body.source === 'string' ? parsePackageId(body.source) : undefined;
      if (!source) throw new SluiceError('BAD_REQUEST', `"source" must be name@version, e.g. "openssl@3.0.15-1~deb12u1"; ${usage}`);
      const built = deps.catalog.state.fromSource(source.name, source.version).filter((p) => body.feed === undefined || p.feedName === body.feed);
      if (built.length === 0) throw new SluiceError('PACKAGE_NOT_FOUND', `no feed package is built from source ${source.name} ${source.version}${body.feed ? ` in feed ${String(body.feed)}` : ''}; see "sluice packages --source ${source.name}"`);
      // A source name is the vendor's word: two feeds may both claim one. Never mix them.
      const feeds = [...new Set(built.map((p) => p.feedName))];
      if (feeds.length > 1) throw new SluiceError('BAD_REQUEST', `source ${source.name} ${source.version} is claimed by feeds ${feeds.join(' and ')}; name the vendor whose fix this is with "feed" (sluice approve --source ${source.name}@${source.version} --feed ${feeds[0]})`);
      ids = built.map((p) => p.id);
    } else {
      const list = body.ids;
      if (!Array.isArray(list) || list.length === 0 || list.length > MAX_APPROVALS || !list.every((i) => typeof i === 'string')) throw new SluiceError('BAD_REQUEST', usage);
      ids = list as string[];
    }
    const ring = (body.ring as string | undefined) ?? 'all';
    auditTarget(request, `${body.source !== undefined ? `source ${String(body.source)}, ` : ''}${body.advisory !== undefined ? `advisory ${String(body.advisory)}, ` : ''}${ids.length} packages for ${ring}: ${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', ...' : ''}`);
    authorize(request, 'approve', { rings: [ring] });
    const at = new Date().toISOString();
    if (body.dryRun === true) {
      const planned = approveManyRecords(deps.catalog, ids, ring, deps.topology.rings, actorOf(request), at);
      const would = planned.records.map((r) => (r as { id: string }).id);
      return { ring, approved: [], wouldApprove: would, unchanged: planned.unchanged.length, unchangedIds: planned.unchanged, appended: [], warnings: (await deps.approvalCheck?.(would, ring)) ?? [] };
    }
    const warnings = (await deps.approvalCheck?.(ids, ring)) ?? [];
    let unchanged: { id: string; code: string; message: string }[] = [];
    const records = await writer.append((log) => {
      const planned = approveManyRecords(log, ids, ring, deps.topology.rings, actorOf(request), at);
      unchanged = planned.unchanged;
      return planned.records;
    });
    return { ring, approved: records.map((r) => (r as { id: string }).id), unchanged: unchanged.length, unchangedIds: unchanged, appended: records.map((r) => r.seq), warnings };
  });

  app.post(PATHS.decline, { onRequest: decliner }, async (request) => {
    const writer = primaryWriter();
    const { id } = request.params as { id: string };
    const body = (request.body ?? {}) as { ring?: unknown };
    if (typeof body !== 'object' || (body.ring !== undefined && (typeof body.ring !== 'string' || body.ring.length > 64))) {
      throw new SluiceError('BAD_REQUEST', 'expected a JSON body like { "ring": "pilot" } (withdraw that ring\'s approval) or {} (decline everywhere)');
    }
    const ring = body.ring as string | undefined;
    auditTarget(request, ring === undefined ? id : `${id} for ${ring}`);
    // With a ring, only that ring's approval is withdrawn: the act is scoped to it. Without,
    // the package is withdrawn from every ring it is approved for (all of them if none yet),
    // so the scope must cover each. It is checked inside the writer's lock, against the rings
    // the package holds at that moment: an approval landing just before cannot be withdrawn
    // by someone outside it.
    const records = await writer.append((log) => {
      const pkg = log.state.get(id);
      authorize(request, 'decline', { rings: ring !== undefined ? [ring] : pkg && pkg.approvals.size > 0 ? [...pkg.approvals.keys()] : ['all'] });
      return declineRecords(log, id, actorOf(request), new Date().toISOString(), ring, deps.topology.rings);
    });
    return { ...packageJson(deps.catalog, deps.catalog.state.get(id)!), appended: records.map((r) => r.seq) };
  });

  /**
   * Multipart upload: a "meta" JSON field first, then one part per file. Each file streams
   * into the store's staging area, hashed while it arrives; nothing becomes visible until
   * every file is in and the publish record commits with them in one batch.
   */
  app.post(PATHS.packages, { onRequest: publisher }, async (request, reply) => {
    const writer = primaryWriter();
    if (!request.isMultipart()) throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', 'publish expects multipart/form-data: a "meta" JSON field, then the files');
    const staged: StagedBlob[] = [];
    const files: FileEntry[] = [];
    let meta: PublishMeta | undefined;
    try {
      for await (const part of request.parts()) {
        if (part.type === 'field') {
          if (part.fieldname !== 'meta' || meta) throw new SluiceError('INVALID_UPLOAD', `unexpected field "${part.fieldname}"; send one "meta" field before the files`);
          meta = parsePublishMeta(part.value);
          // Named before the checks, so a refused publish says which package it was.
          auditTarget(request, `${meta.name}@${meta.version}`);
          checkPublishable(deps.catalog, meta);
          continue;
        }
        if (!meta) throw new SluiceError('INVALID_UPLOAD', 'the "meta" field must come before the files');
        const name = path.basename(part.filename ?? '');
        if (!/^[^\x00-\x1f/\\]{1,255}$/.test(name) || name === '.' || name === '..') {
          throw new SluiceError('INVALID_UPLOAD', `file part "${part.fieldname}" needs a file name (1-255 characters, no slashes or control characters)`);
        }
        const blob = await deps.store.stage(part.file, { maxBytes: deps.maxUploadBytes });
        staged.push(blob);
        if (part.file.truncated) throw new SluiceError('PAYLOAD_TOO_LARGE', `file "${name}" is larger than this node accepts (${deps.maxUploadBytes} bytes)`);
        files.push({ name, size: blob.size, sha256: blob.sha256, platform: meta.platform, language: meta.language });
      }
      if (!meta) throw new SluiceError('INVALID_UPLOAD', 'missing the "meta" field with name and version');
      if (files.length === 0) throw new SluiceError('INVALID_UPLOAD', 'a package needs at least one file');
      const m = meta;
      const records = await writer.append((log) => publishRecords(log, m, files, actorOf(request), new Date().toISOString()), staged);
      staged.length = 0;
      void reply.code(201);
      return { ...packageJson(deps.catalog, deps.catalog.state.get(`${m.name}@${m.version}`)!), appended: records.map((r) => r.seq) };
    } finally {
      for (const s of staged) await deps.store.discard(s);
    }
  });
}
