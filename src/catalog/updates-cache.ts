import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { CatalogLog } from './catalog-log.js';
import type { FileEntry } from './records.js';
import type { Metrics } from '../metrics/metrics.js';
import { bySeverity } from '../domain/severity.js';
import { blobUrl } from '../protocol/paths.js';
import type { UpdateEntry, UpdatesAnswer } from '../protocol/updates.js';
import type { BlobStore } from '../store/blob-store.js';
import type { NodeSpec, Topology } from '../topology/types.js';

/** What an endpoint asks: its rings (the node's when it names none), platform and language. */
export interface UpdatesQuery {
  readonly rings: readonly string[];
  readonly platform: string | undefined;
  readonly language: string | undefined;
}

/** A serialized answer and its strong ETag (a digest of the body). */
export interface UpdatesBody {
  readonly json: Buffer;
  readonly etag: string;
  readonly updates: number;
}

interface Entry extends UpdatesBody {
  /** The catalog position it was computed at. */
  readonly seq: number;
  readonly tip: string;
  /** store.removals when computed: a forgotten blob can turn "available" into "pending". */
  readonly removals: number;
  /** Blobs it found missing: one of them arriving turns a "pending" package "available". */
  readonly missing: readonly string[];
}

/** Distinct (rings, platform, language) answers kept; a site has a handful of each. */
const MAX_ANSWERS = 512;
/** Bytes of answers kept, whatever callers ask: 10,000 approved packages make ~3 MiB answers. */
const MAX_ANSWER_BYTES = 32 * 1024 * 1024;
/** Stands for any value no file of the catalog carries: every such value gets the same answer. */
const NONE = '\u0001none';

/**
 * Answers of `GET /v1/updates`, computed once per question and catalog position instead of
 * walking the whole catalog on every request (10,000 approved packages × every endpoint).
 * An answer stays valid while the catalog has not moved, no blob was forgotten, and none of
 * the blobs it found missing has arrived; otherwise the next request recomputes it. The ETag
 * is a digest of the body, so it survives restarts and is the same on every node that would
 * say the same thing.
 */
export class UpdatesCache {
  private readonly answers = new LRUCache<string, Entry>({ max: MAX_ANSWERS, maxSize: MAX_ANSWER_BYTES, sizeCalculation: (e) => e.json.length + 256 });
  /** Platforms, languages and rings the catalog names, at the position they were read. */
  private known: { seq: number; tip: string; platforms: Set<string>; languages: Set<string>; rings: Set<string> } | undefined;

  constructor(
    private readonly deps: { readonly catalog: CatalogLog; readonly store: BlobStore; readonly node: NodeSpec; readonly topology: Topology; readonly metrics?: Pick<Metrics, 'updatesCacheBytes'> },
  ) {}

  /**
   * The cache is keyed on what the answer depends on, never on the raw question: anonymous
   * callers choose the query, so a platform, language or ring that no file or approval of the
   * catalog names is keyed as one "none" (the answer is the same for all of them), and the
   * number of distinct keys follows the catalog, not the callers.
   */
  answer(q: UpdatesQuery): UpdatesBody {
    const known = this.knownValues();
    const label = (v: string | undefined, set: Set<string>) => (v === undefined ? '' : set.has(v) ? v : NONE);
    const rings = [...new Set(q.rings.map((r) => (known.rings.has(r) ? r : NONE)))].sort();
    const key = `${rings.join(',')}\u0000${label(q.platform, known.platforms)}\u0000${label(q.language, known.languages)}`;
    const cached = this.answers.get(key);
    if (cached && this.stillValid(cached)) return cached;
    const fresh = this.compute(q);
    this.answers.set(key, fresh);
    this.deps.metrics?.updatesCacheBytes.set(this.answers.calculatedSize);
    return fresh;
  }

  private knownValues(): NonNullable<UpdatesCache['known']> {
    const { catalog, topology } = this.deps;
    if (this.known && this.known.seq === catalog.seq && this.known.tip === catalog.tipHash) return this.known;
    const platforms = new Set<string>();
    const languages = new Set<string>();
    const rings = new Set<string>([...topology.nodes.values()].flatMap((n) => n.rings));
    // Only approved packages are ever listed: values only unapproved ones name get the "none" answer.
    for (const pkg of catalog.state.approved()) {
      for (const f of pkg.files) {
        if (f.platform !== undefined) platforms.add(f.platform);
        if (f.language !== undefined) languages.add(f.language);
      }
      for (const ring of pkg.approvals.keys()) rings.add(ring);
    }
    return (this.known = { seq: catalog.seq, tip: catalog.tipHash, platforms, languages, rings });
  }

  private stillValid(e: Entry): boolean {
    const { catalog, store } = this.deps;
    return e.seq === catalog.seq && e.tip === catalog.tipHash && e.removals === store.removals && !e.missing.some((sha) => store.has(sha));
  }

  /**
   * Approved (for one of the rings, or all), not declined, not superseded by an approved
   * package, with files matching the platform and language (files without a label match
   * everything). A package whose files this node holds verified is "available", with URLs
   * here (at the site's load balancer for a sibling); one still replicating is "pending",
   * never with a URL to a partial.
   */
  private compute(q: UpdatesQuery): Entry {
    const { catalog, store, node, topology } = this.deps;
    // Behind a site's load balancer, endpoints download through it, never from one sibling.
    const base = (node.site ? topology.sites.get(node.site)?.url : undefined) ?? node.url;
    const seq = catalog.seq;
    const tip = catalog.tipHash;
    const removals = store.removals;
    const matches = (f: FileEntry) => (q.platform === undefined || f.platform === undefined || f.platform === q.platform) && (q.language === undefined || f.language === undefined || f.language === q.language);
    const state = catalog.state;
    const missing: string[] = [];
    const updates: UpdateEntry[] = [];
    for (const pkg of state.approved()) {
      if (!state.isWantedBy(pkg, q.rings)) continue;
      const files = pkg.files.filter(matches);
      if (files.length === 0) continue;
      const absent = files.filter((f) => !store.has(f.sha256));
      missing.push(...absent.map((f) => f.sha256));
      const available = absent.length === 0;
      const approvedAt = state.approvedAtMs(pkg, q.rings)!;
      updates.push({
        id: pkg.id,
        name: pkg.name,
        version: pkg.version,
        severity: pkg.severity,
        classification: pkg.classification ?? null,
        approvedAt: new Date(approvedAt).toISOString(),
        deadline: new Date(approvedAt + topology.deadlinesMs[pkg.severity]).toISOString(),
        state: available ? ('available' as const) : ('pending' as const),
        files: files.map((f) => ({ ...f, url: available ? blobUrl(base, f.sha256) : null })),
      });
    }
    updates.sort((a, b) => bySeverity(a.severity, b.severity) || Date.parse(a.approvedAt) - Date.parse(b.approvedAt));
    const json = Buffer.from(JSON.stringify({ node: node.name, catalogSeq: seq, updates } satisfies UpdatesAnswer));
    const etag = `"${createHash('sha256').update(json).digest('base64url').slice(0, 32)}"`;
    return { json, etag, updates: updates.length, seq, tip, removals, missing };
  }
}
