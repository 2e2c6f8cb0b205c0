import { z } from 'zod';
import type { Metrics } from '../metrics/metrics.js';
import type { BatchOp, MetaDb, Sublevel } from '../store/meta-db.js';
import { sublevels, syncBatch } from '../store/meta-db.js';
import { REPORT_STATUSES, type ReportStatus } from '../domain/report-statuses.js';
import { RecentList } from './recent-list.js';

export const reportSchema = z
  .object({
    clientId: z.string().regex(/^[A-Za-z0-9._:@-]{1,128}$/, 'letters, digits, ".", "_", ":", "@" or "-", at most 128'),
    package: z.string().min(3).max(200),
    status: z.enum(REPORT_STATUSES),
    error: z.string().max(2000).optional(),
    /** The node that did not offer this package although the signed catalog approves it. */
    withheldBy: z.string().max(300).optional(),
    /**
     * The ring the endpoint belongs to (`sluice agent --ring`, the dpkg hook's SLUICE_RING or
     * its .sources line); a node serving one ring fills it in. Per-ring figures feed compliance
     * per ring and promotion gates.
     */
    ring: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'a ring name').optional(),
    at: z.string().datetime(),
  })
  .strict();

export const REPORTS_PER_BATCH = 1000;
export const reportBatchSchema = z.object({ reports: z.array(reportSchema).min(1).max(REPORTS_PER_BATCH) }).strict();
export type Report = z.infer<typeof reportSchema>;
/** A report as kept: with the time it is ordered by (its own, or its arrival if that was earlier). */
type StoredReport = Report & { orderMs: number };

/** What one site's endpoints of one ring reported. */
export interface RingSummary {
  /** Distinct endpoints that reported anything for this ring here. */
  clients: number;
  packages: Record<string, Partial<Record<ReportStatus, number>>>;
}

/** What one site's endpoints reported: per package, clients by status; recent failures. */
export interface SiteSummary {
  /** Distinct endpoints that reported anything here. */
  clients: number;
  packages: Record<string, Partial<Record<ReportStatus, number>>>;
  /** The same figures per ring, for reports that named one (absent when none did). */
  rings?: Record<string, RingSummary>;
  failures: { clientId: string; package: string; error: string | null; at: string }[];
  /** Endpoints that found a package withheld by their node and took it elsewhere. */
  withheld?: { clientId: string; package: string; by: string; at: string }[];
}

const MAX_FAILURES = 200;
/** Report requests committed together in one synced LevelDB batch, at most. */
const REQUESTS_PER_ROUND = 256;

type Counts = Partial<Record<ReportStatus, number>>;
type Failure = SiteSummary['failures'][number];
type Withheld = NonNullable<SiteSummary['withheld']>[number];

interface PendingBatch {
  readonly reports: readonly Report[];
  readonly receivedAt: number;
  resolve(r: { accepted: number; unchanged: number }): void;
  reject(err: unknown): void;
}

const keyOf = (r: Pick<Report, 'package' | 'clientId'>) => `${r.package}\u0000${r.clientId}`;
/** Rings a site's summary carries at most: a site serves a handful. */
const MAX_RINGS = 64;

/**
 * The latest report of each endpoint for each package, at the node the endpoint reports to.
 * Reports are idempotent: a repeated or older report changes nothing, a newer one replaces
 * the previous, so counts never double.
 *
 * Sized for 100,000 endpoints and more: every report lives in LevelDB only; memory holds the
 * counts per package and status, the number of distinct clients, and the newest failures
 * and withheld packages (200 each). Requests arriving together are committed together: one
 * synced batch per round of up to 256 requests, acknowledged only after it.
 */
export class ReportStore {
  private readonly counts = new Map<string, Counts>();
  /** Ring → package → counts, for reports that named a ring. */
  private readonly ringCounts = new Map<string, Map<string, Counts>>();
  private readonly ringClients = new Map<string, number>();
  private clients = 0;
  private failures = new RecentList<Failure>(MAX_FAILURES);
  private withheld = new RecentList<Withheld>(MAX_FAILURES);
  private readonly db: Sublevel;
  private readonly clientsDb: Sublevel;
  private readonly ringClientsDb: Sublevel;
  private queue: PendingBatch[] = [];
  private committing = false;
  private refillWanted = false;

  private constructor(
    private readonly root: MetaDb,
    private readonly metrics: Metrics,
  ) {
    this.db = sublevels(root).reports;
    this.clientsDb = sublevels(root).reportClients;
    this.ringClientsDb = sublevels(root).reportRingClients;
  }

  /** Reads every stored report once (counts, newest failures) and counts the clients. */
  static async open(db: MetaDb, metrics: Metrics): Promise<ReportStore> {
    const store = new ReportStore(db, metrics);
    // Rings first: a report is counted for its ring only once the ring is known.
    for await (const key of store.ringClientsDb.keys() as AsyncIterable<string>) {
      const ring = key.slice(0, key.indexOf('\u0000'));
      store.ringClients.set(ring, (store.ringClients.get(ring) ?? 0) + 1);
    }
    // Reports written before clients had their own sublevel: register their clients once.
    let registered = false;
    for await (const _ of store.clientsDb.keys({ limit: 1 })) registered = true;
    let missing: BatchOp[] = [];
    for await (const [, value] of store.db.iterator() as AsyncIterable<[string, StoredReport]>) {
      const r = withOrder(value);
      store.count(r, 1);
      store.track(r);
      if (!registered) missing.push({ type: 'put', sublevel: store.clientsDb, key: r.clientId, value: r.at });
      if (missing.length >= 1000) missing = await syncBatch(db, missing).then(() => []);
    }
    if (missing.length) await syncBatch(db, missing);
    for await (const _ of store.clientsDb.keys()) store.clients++;
    return store;
  }

  /**
   * Records a batch; returns how many changed something. Reports are ordered by their time
   * as numbers (string order mis-sorts mixed fractional seconds), and a time in the future
   * counts as the moment it arrived: an endpoint whose clock ran ahead cannot freeze its
   * own status, since its next honest report is still newer.
   */
  record(reports: readonly Report[], receivedAt = Date.now()): Promise<{ accepted: number; unchanged: number }> {
    return new Promise((resolve, reject) => {
      this.queue.push({ reports, receivedAt, resolve, reject });
      void this.drain();
    });
  }

  /** Keeps a report file taken from a disk (sluice report --import), so it survives a restart. */
  async saveImported(node: string, body: unknown): Promise<void> {
    await syncBatch(this.root, [{ type: 'put', sublevel: sublevels(this.root).state, key: `report-import:${node}`, value: body }]);
  }

  /** The report files taken so far, to adopt again at start. */
  async loadImported(): Promise<unknown[]> {
    const out: unknown[] = [];
    for await (const [, value] of sublevels(this.root).state.iterator({ gte: 'report-import:', lt: 'report-import;' }) as AsyncIterable<[string, unknown]>) out.push(value);
    return out;
  }

  summary(): SiteSummary {
    const copy = (from: Map<string, Counts>) => {
      const out: SiteSummary['packages'] = {};
      for (const [pkg, counts] of from) if (Object.keys(counts).length) out[pkg] = { ...counts };
      return out;
    };
    const withheld = this.withheld.values();
    const rings: Record<string, RingSummary> = {};
    for (const [ring, clients] of this.ringClients) rings[ring] = { clients, packages: copy(this.ringCounts.get(ring) ?? new Map()) };
    return { clients: this.clients, packages: copy(this.counts), ...(this.ringClients.size ? { rings } : {}), failures: this.failures.values(), ...(withheld.length ? { withheld } : {}) };
  }

  private async drain(): Promise<void> {
    if (this.committing) return;
    this.committing = true;
    try {
      while (this.queue.length) {
        const round = this.queue.splice(0, REQUESTS_PER_ROUND);
        await this.commitRound(round).catch((err: unknown) => round.forEach((p) => p.reject(err)));
      }
    } finally {
      this.committing = false;
    }
  }

  /** One round: previous reports read in one getMany, every change in one synced batch. */
  private async commitRound(round: readonly PendingBatch[]): Promise<void> {
    const keys = [...new Set(round.flatMap((p) => p.reports.map(keyOf)))];
    const stored = await this.db.getMany(keys);
    const latest = new Map<string, StoredReport | undefined>(keys.map((k, i) => [k, stored[i] ? withOrder(stored[i] as StoredReport) : undefined]));
    const clientIds = [...new Set(round.flatMap((p) => p.reports.map((r) => r.clientId)))];
    const known = await this.clientsDb.getMany(clientIds);
    const newClients = clientIds.filter((_, i) => known[i] === undefined);
    // A ring's clients: (ring, client) pairs not seen before; a site serves few rings.
    const ringPairs = [...new Set(round.flatMap((p) => p.reports.filter((r) => r.ring !== undefined && (this.ringClients.has(r.ring) || this.ringClients.size < MAX_RINGS)).map((r) => `${r.ring}\u0000${r.clientId}`)))];
    const knownPairs = ringPairs.length ? await this.ringClientsDb.getMany(ringPairs) : [];
    const newPairs = ringPairs.filter((_, i) => knownPairs[i] === undefined);
    const changes: { prev: StoredReport | undefined; next: StoredReport }[] = [];
    const outcomes = round.map((p) => {
      let accepted = 0;
      for (const r of p.reports) {
        const orderMs = Math.min(Date.parse(r.at), p.receivedAt);
        const prev = latest.get(keyOf(r));
        if (prev && (orderMs < prev.orderMs || (orderMs === prev.orderMs && r.status === prev.status && r.error === prev.error && r.withheldBy === prev.withheldBy))) continue;
        const next: StoredReport = { ...r, orderMs };
        changes.push({ prev, next });
        latest.set(keyOf(r), next);
        accepted++;
      }
      return { accepted, unchanged: p.reports.length - accepted };
    });
    const ops: BatchOp[] = [
      ...[...new Set(changes.map((c) => keyOf(c.next)))].map((key) => ({ type: 'put' as const, sublevel: this.db, key, value: latest.get(key) })),
      ...newClients.map((id) => ({ type: 'put' as const, sublevel: this.clientsDb, key: id, value: new Date(round[0]!.receivedAt).toISOString() })),
      ...newPairs.map((key) => ({ type: 'put' as const, sublevel: this.ringClientsDb, key, value: new Date(round[0]!.receivedAt).toISOString() })),
    ];
    if (ops.length) await syncBatch(this.root, ops);
    this.clients += newClients.length;
    for (const pair of newPairs) {
      const ring = pair.slice(0, pair.indexOf('\u0000'));
      this.ringClients.set(ring, (this.ringClients.get(ring) ?? 0) + 1);
    }
    for (const { prev, next } of changes) {
      if (prev) this.count(prev, -1);
      this.count(next, 1);
      this.track(next);
      this.metrics.reports.inc({ status: next.status });
    }
    if (this.refillWanted) await this.refillLists();
    round.forEach((p, i) => p.resolve(outcomes[i]!));
  }

  /** Counts a report in (delta 1) or out (delta -1), for the site and for its ring. */
  private count(r: Pick<Report, 'package' | 'status' | 'ring'>, delta: number): void {
    const add = (map: Map<string, Counts>) => {
      let counts = map.get(r.package);
      if (!counts) map.set(r.package, (counts = {}));
      const n = (counts[r.status] ?? 0) + delta;
      if (n > 0) counts[r.status] = n;
      else delete counts[r.status];
      if (Object.keys(counts).length === 0) map.delete(r.package);
    };
    add(this.counts);
    if (r.ring === undefined || !this.ringClients.has(r.ring)) return;
    let perRing = this.ringCounts.get(r.ring);
    if (!perRing) this.ringCounts.set(r.ring, (perRing = new Map()));
    add(perRing);
  }

  /**
   * Keeps the newest failures and withheld packages; a report that is no longer one leaves
   * them. What stays is still the newest of its kind, only fewer: a list that had dropped
   * older entries is refilled from LevelDB once it is down to half, not on every removal
   * (a refill reads every report).
   */
  private track(r: StoredReport): void {
    const key = keyOf(r);
    if (r.status === 'failed') this.failures.put(key, { clientId: r.clientId, package: r.package, error: r.error ?? null, at: r.at }, r.orderMs);
    else if (this.failures.delete(key) && this.failures.size < MAX_FAILURES / 2) this.refillWanted = true;
    if (r.withheldBy) this.withheld.put(key, { clientId: r.clientId, package: r.package, by: r.withheldBy, at: r.at }, r.orderMs);
    else if (this.withheld.delete(key) && this.withheld.size < MAX_FAILURES / 2) this.refillWanted = true;
  }

  /** Rebuilds both lists from LevelDB (see track). */
  private async refillLists(): Promise<void> {
    this.refillWanted = false;
    const failures = new RecentList<Failure>(MAX_FAILURES);
    const withheld = new RecentList<Withheld>(MAX_FAILURES);
    for await (const [key, value] of this.db.iterator() as AsyncIterable<[string, StoredReport]>) {
      const r = withOrder(value);
      if (r.status === 'failed') failures.put(key, { clientId: r.clientId, package: r.package, error: r.error ?? null, at: r.at }, r.orderMs);
      if (r.withheldBy) withheld.put(key, { clientId: r.clientId, package: r.package, by: r.withheldBy, at: r.at }, r.orderMs);
    }
    this.failures = failures;
    this.withheld = withheld;
  }
}

/** Reports stored before they carried their order time are ordered by their own time. */
const withOrder = (r: StoredReport): StoredReport => (typeof r.orderMs === 'number' ? r : { ...r, orderMs: Math.min(Date.parse(r.at), Date.now()) });

/**
 * One site's summary as it travels upward (pushes, report files): checked at every hop with
 * the bounds a node's own summary keeps, so no node can hand its upstream more than a site's
 * worth of figures.
 */
const packageCountsSchema = z.record(z.string().min(3).max(200), z.record(z.enum(REPORT_STATUSES), z.number().int().nonnegative().finite()));
export const siteSummarySchema = z.object({
  clients: z.number().int().nonnegative().finite(),
  packages: packageCountsSchema,
  rings: z
    .record(z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/), z.object({ clients: z.number().int().nonnegative().finite(), packages: packageCountsSchema }))
    .refine((r) => Object.keys(r).length <= MAX_RINGS, `at most ${MAX_RINGS} rings`)
    .optional(),
  failures: z.array(z.object({ clientId: z.string().max(128), package: z.string().max(200), error: z.string().max(2000).nullable(), at: z.string().max(64) })).max(MAX_FAILURES),
  withheld: z.array(z.object({ clientId: z.string().max(128), package: z.string().max(200), by: z.string().max(300), at: z.string().max(64) })).max(MAX_FAILURES).optional(),
}) as z.ZodType<SiteSummary, z.ZodTypeDef, unknown>;

/**
 * Largest summary of one site, serialized: a package id and its counts take some 60 bytes,
 * so a site reporting on 20,000 catalogued packages fits, and endpoints cannot grow it past
 * the catalog (reports name catalogued packages only).
 */
export const MAX_SITE_SUMMARY_BYTES = 2 * 1024 * 1024;
