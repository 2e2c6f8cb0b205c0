import { z } from 'zod';
import { SluiceError } from '../errors.js';
import { SEVERITIES } from '../domain/severity.js';
import type { CatalogLog } from './catalog-log.js';
import type { PackageView } from './catalog-state.js';
import { PACKAGE_NAME_PATTERN, PACKAGE_VERSION_PATTERN, RING_ALL, parsePackageId, type FileEntry, type RecordBody } from './records.js';

/**
 * The rules of administrative decisions, as pure functions from the current catalog to the
 * records to append. They run inside the writer's lock, so two admins racing cannot publish
 * the same id twice or approve a package that was just declined by mistake.
 */

const label = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'letters, digits, ".", "_" or "-", at most 64');

export const publishMetaSchema = z
  .object({
    name: z.string().regex(PACKAGE_NAME_PATTERN, 'a package name: letters, digits, ".", "_", "+" or "-", starting with a letter or digit, at most 128'),
    version: z.string().regex(PACKAGE_VERSION_PATTERN, 'a version: letters, digits, ".", "+", "_", "~", "^", ":" or "-", at most 128'),
    severity: z.enum(SEVERITIES).default('moderate'),
    classification: label.optional(),
    platform: label.optional(),
    language: label.optional(),
    supersedes: z.string().optional(),
  })
  .strict();

export type PublishMeta = z.infer<typeof publishMetaSchema>;

/** `meta` arrives as text, or already parsed when its part says application/json. */
export function parsePublishMeta(meta: unknown): PublishMeta {
  let value: unknown = meta;
  if (typeof meta === 'string') {
    try {
      value = JSON.parse(meta);
    } catch {
      throw new SluiceError('INVALID_UPLOAD', 'the "meta" field is not valid JSON');
    }
  }
  const parsed = publishMetaSchema.safeParse(value);
  if (!parsed.success) {
    const msg = parsed.error.issues.map((i) => `${i.path.join('.') || 'meta'}: ${i.message}`).join('; ');
    throw new SluiceError('INVALID_UPLOAD', `invalid package metadata: ${msg}`);
  }
  return parsed.data;
}

/** Checks that can run before any byte is uploaded (and again inside the lock). */
export function checkPublishable(log: CatalogLog, meta: PublishMeta): void {
  const id = `${meta.name}@${meta.version}`;
  if (log.state.get(id)) throw new SluiceError('PACKAGE_EXISTS', `package ${id} is already published; publish a new version instead (packages are immutable)`);
  if (meta.supersedes !== undefined) {
    const old = log.state.get(meta.supersedes);
    if (!old) throw new SluiceError('PACKAGE_NOT_FOUND', `--supersedes ${meta.supersedes}: no such package; see "sluice packages"`);
    if (old.supersededBy) throw new SluiceError('PACKAGE_EXISTS', `package ${meta.supersedes} is already superseded by ${old.supersededBy}`);
  }
}

export function publishRecords(log: CatalogLog, meta: PublishMeta, files: readonly FileEntry[], by: string, at: string): RecordBody[] {
  checkPublishable(log, meta);
  const id = `${meta.name}@${meta.version}`;
  const names = new Set<string>();
  for (const f of files) {
    if (names.has(f.name)) throw new SluiceError('INVALID_UPLOAD', `two files are named "${f.name}"; file names within a package must differ`);
    names.add(f.name);
  }
  const out: RecordBody[] = [{ type: 'publish', id, severity: meta.severity, classification: meta.classification, files: [...files], by, at }];
  if (meta.supersedes) out.push({ type: 'supersede', id: meta.supersedes, supersededBy: id, by, at });
  return out;
}

export function approveRecords(log: CatalogLog, id: string, ring: string, knownRings: readonly string[], by: string, at: string): RecordBody[] {
  const pkg = requirePackage(log, id);
  if (ring !== RING_ALL && !knownRings.includes(ring)) {
    throw new SluiceError('UNKNOWN_RING', `unknown ring "${ring}"; expected "all" or one of: ${knownRings.join(', ') || '(no rings in the topology)'}`);
  }
  const unchanged = approvalUnchanged(log, pkg, ring);
  if (unchanged) throw new SluiceError(unchanged.code, unchanged.message);
  return [{ type: 'approve', id, ring, by, at }];
}

/**
 * Why approving `pkg` for `ring` would change nothing for any machine: already approved there,
 * or replaced there by an approved successor (`also`: successors approved in the same act).
 * Undefined when the approval changes what the ring receives.
 */
export function approvalUnchanged(log: CatalogLog, pkg: PackageView, ring: string, also: ReadonlySet<string> = new Set()): { code: 'ALREADY_APPROVED' | 'SUPERSEDED_FOR_RING'; message: string } | undefined {
  const state = log.state;
  if (!pkg.declined && pkg.approvals.has(ring)) return { code: 'ALREADY_APPROVED', message: `${pkg.id} is already approved for ${ring}; nothing was changed` };
  const successor = state.supersededFor(pkg, ring) ?? successorIn(log, pkg, also);
  if (successor) {
    const via = state.get(successor)?.approvals.has(ring) ? ring : RING_ALL;
    return {
      code: 'SUPERSEDED_FOR_RING',
      message: `${pkg.id} is superseded for ${ring} by ${successor}${also.has(successor) ? ', approved in the same act' : `, approved for ${via}`}; ${ring} would not receive it. To send ${ring} back to ${pkg.id}, withdraw the successor there first ("sluice decline ${successor} --ring ${via}"); nothing was changed`,
    };
  }
  return undefined;
}

/** A package down `pkg`'s supersede chain that is among `ids` (approved together with it). */
function successorIn(log: CatalogLog, pkg: PackageView, ids: ReadonlySet<string>): string | undefined {
  if (ids.size === 0) return undefined;
  let next = pkg.supersededBy;
  for (let hops = 0; next !== undefined && hops < 100_000; hops++) {
    if (ids.has(next)) return next;
    next = log.state.get(next)?.supersededBy;
  }
  return undefined;
}

/**
 * Several packages approved for one ring in one append. Unknown ids refuse the whole act (a
 * typo approves nothing); ids whose approval would change nothing for the ring are left out
 * and listed with the reason.
 */
export function approveManyRecords(log: CatalogLog, ids: readonly string[], ring: string, knownRings: readonly string[], by: string, at: string): { records: RecordBody[]; unchanged: { id: string; code: string; message: string }[] } {
  if (ring !== RING_ALL && !knownRings.includes(ring)) {
    throw new SluiceError('UNKNOWN_RING', `unknown ring "${ring}"; expected "all" or one of: ${knownRings.join(', ') || '(no rings in the topology)'}`);
  }
  const unique = [...new Set(ids)];
  const packages = unique.map((id) => requirePackage(log, id));
  const asked = new Set(unique);
  const records: RecordBody[] = [];
  const unchanged: { id: string; code: string; message: string }[] = [];
  for (const pkg of packages) {
    const why = approvalUnchanged(log, pkg, ring, asked);
    if (why) unchanged.push({ id: pkg.id, ...why });
    else records.push({ type: 'approve', id: pkg.id, ring, by, at });
  }
  return { records, unchanged };
}

/**
 * Declines a package everywhere (`ring` undefined): it replicates nowhere. With a ring,
 * withdraws that ring's approval only: the ring falls back to the newest version still
 * approved for it, and every other ring keeps what it has.
 */
export function declineRecords(log: CatalogLog, id: string, by: string, at: string, ring?: string, knownRings?: readonly string[]): RecordBody[] {
  const pkg = requirePackage(log, id);
  if (ring !== undefined && ring !== RING_ALL && knownRings && !knownRings.includes(ring) && !pkg.approvals.has(ring)) {
    throw new SluiceError('UNKNOWN_RING', `unknown ring "${ring}"; expected "all" or one of: ${knownRings.join(', ') || '(no rings in the topology)'}`);
  }
  if (ring === undefined) {
    if (pkg.declined) throw new SluiceError('ALREADY_DECLINED', `${id} is already declined (it replicates nowhere); nothing was changed`);
    return [{ type: 'decline', id, by, at }];
  }
  if (pkg.declined) throw new SluiceError('ALREADY_DECLINED', `${id} is declined everywhere already; nothing was changed`);
  if (!pkg.approvals.has(ring)) {
    const through = ring !== RING_ALL && pkg.approvals.has(RING_ALL) ? `; ${ring} receives it through its approval for all: withdraw that ("--ring all"), then approve it for the rings that should keep it` : '';
    throw new SluiceError('NOT_APPROVED_FOR_RING', `${id} is not approved for ${ring} (approved for: ${[...pkg.approvals.keys()].join(', ') || 'no ring'})${through}; nothing was changed`);
  }
  return [{ type: 'withdraw', id, ring, by, at }];
}

function requirePackage(log: CatalogLog, id: string): PackageView {
  if (!parsePackageId(id)) throw new SluiceError('INVALID_PACKAGE_ID', `"${id.slice(0, 200)}" is not a package id; expected name@version`);
  const pkg = log.state.get(id);
  if (!pkg) throw new SluiceError('PACKAGE_NOT_FOUND', `no package ${id}; see "sluice packages"`);
  return pkg;
}

/** The JSON form of a package in /v1/packages and `sluice packages --json`. */
export function packageJson(log: CatalogLog, pkg: PackageView) {
  const state = log.state;
  return {
    id: pkg.id,
    name: pkg.name,
    version: pkg.version,
    severity: pkg.severity,
    classification: pkg.classification ?? null,
    state: state.stateOf(pkg),
    rings: [...pkg.approvals.keys()],
    files: pkg.files,
    published: pkg.published,
    approvals: [...pkg.approvals].map(([ring, d]) => ({ ring, ...d, supersededBy: state.supersededFor(pkg, ring) ?? null })),
    declined: pkg.declined ?? null,
    supersedes: pkg.supersedes ?? null,
    supersededBy: pkg.supersededBy ?? null,
    /** The vendor feed it came from (null: published by a person). */
    feed: pkg.feedName ?? null,
    /** A feed package's source package and version (null: published by a person). */
    source: pkg.source ?? null,
  };
}
