import { EnvHttpProxyAgent } from 'undici';
import { CatalogWriter } from '../catalog/catalog-writer.js';
import { readPrivateKey } from '../catalog/keys.js';
import { LostBlobs } from '../primary/lost-blobs.js';
import { SupersededRetention } from '../primary/superseded-retention.js';
import { SluiceError } from '../errors.js';
import { AptPublisher } from '../feeds/apt-publisher.js';
import { RpmPublisher } from '../feeds/rpm-publisher.js';
import { FeedScheduler } from '../feeds/feed-scheduler.js';
import { FeedState } from '../feeds/feed-state.js';
import { advisoryWarnings } from '../feeds/advisory-check.js';
import { dependencyWarnings, type DependencyWarning } from '../feeds/dependency-check.js';
import { RepositoryKeys } from '../feeds/repository-key.js';
import { VendorPlanner } from '../feeds/vendor-planner.js';
import { freeBytesOf } from '../download/disk-space.js';
import { Downloader } from '../download/downloader.js';
import { VendorFileChecks } from '../feeds/vendor-file-check.js';
import { ScheduleController } from '../schedule/schedule-controller.js';
import { UNLIMITED_BUDGET } from '../schedule/rate-budget.js';
import type { Secrets } from '../auth/secrets.js';
import type { NodeSpec } from '../topology/types.js';
import type { CloseStep } from './close-steps.js';
import type { AuditLog } from '../audit/audit-log.js';
import { PromotionGates } from '../promote/promotion-gates.js';
import { PromotionLog } from '../promote/promotion-log.js';
import type { SiteSummary } from '../reports/report-store.js';
import { sublevels } from '../store/meta-db.js';
import type { NodeParts } from './node-parts.js';

/** The primary role needs nothing beyond the common parts. */
export type PrimaryParts = NodeParts;

/** Concurrent downloads from vendors in each lane (critical, large, small): a vendor's mirror is not a peer of ours. */
const VENDOR_CONCURRENCY = 2;

/**
 * What only the primary runs: the catalog writer (with its signing keys), the lost-blob
 * watch, and with `feeds:` the vendor side — feed syncs, the vendor planner whose files the
 * downloader takes on the primary's own schedule, and the signed APT repository of each ring.
 */
export class PrimaryRole {
  private vendorClient: EnvHttpProxyAgent | undefined;
  feeds: FeedScheduler | undefined;
  vendor: VendorPlanner | undefined;
  /** The primary's downloader: vendor files (with feeds), and the relay of those still arriving. */
  downloader!: Downloader;
  private vendorSchedule: ScheduleController | undefined;
  private aptPublisher: AptPublisher | undefined;
  private rpmPublisher: RpmPublisher | undefined;
  private retention: SupersededRetention | undefined;
  promotions: PromotionGates | undefined;
  /** With feeds: what the feeds keep at the primary (advisories among it). */
  feedState: FeedState | undefined;
  /** With feeds: the dependencies an approval of feed packages leaves unmet in its ring. */
  approvalCheck: ((ids: readonly string[], ring: string) => Promise<readonly DependencyWarning[]>) | undefined;

  private constructor(
    readonly writer: CatalogWriter,
    readonly lost: LostBlobs,
  ) {}

  /** Builds the role before the node listens (routes need the writer); `start` runs it after. */
  static async build(p: PrimaryParts, signingKeys: ReturnType<typeof loadSigningKeys>): Promise<PrimaryRole> {
    const writer = new CatalogWriter(p.catalog, p.store, signingKeys, p.topology.trust.headTtlMs, p.topology.trust.timestampTtlMs);
    await writer.start();
    const role = new PrimaryRole(writer, new LostBlobs(p.catalog, p.store, p.topology.retainSupersededMs));
    if (p.topology.retainSupersededMs !== undefined) role.retention = new SupersededRetention(p.catalog, p.store, p.topology.retainSupersededMs, p.metrics, p.log.child({ component: 'retention' }));
    if (p.topology.feeds.size) await role.buildFeeds(p);
    else role.downloader = role.newDownloader(p, { normal: UNLIMITED_BUDGET, critical: UNLIMITED_BUDGET });
    return role;
  }

  private newDownloader(p: PrimaryParts, budgets: ConstructorParameters<typeof Downloader>[0]['budgets']): Downloader {
    const tuning = { ...p.tuning, smallConcurrency: VENDOR_CONCURRENCY, largeConcurrency: VENDOR_CONCURRENCY, criticalConcurrency: VENDOR_CONCURRENCY };
    return new Downloader({ store: p.store, metrics: p.metrics, log: p.log.child({ component: 'vendor' }), tuning, budgets, freeBytes: () => freeBytesOf(p.spec.dataDir) });
  }

  private async buildFeeds(p: PrimaryParts): Promise<void> {
    // Vendors are reached as any HTTP client of this host would: HTTP(S)_PROXY and NO_PROXY apply.
    this.vendorClient = new EnvHttpProxyAgent();
    const feedState = (this.feedState = new FeedState(p.db));
    this.approvalCheck = async (ids, ring) => [...(await dependencyWarnings(p.catalog.state, feedState, ids, ring)), ...(await advisoryWarnings(p.catalog.state, feedState, ids, ring))];
    // What a vendor's file must pass to be stored, and a held one to be listed in a ring's dnf repository.
    const checks = new VendorFileChecks(p.topology.feeds, p.metrics, feedState);
    this.feeds = new FeedScheduler(p.topology.feeds, { catalog: p.catalog, writer: this.writer, state: feedState, store: p.store, metrics: p.metrics, log: p.log.child({ component: 'feeds' }), dispatcher: this.vendorClient });
    if (p.secrets.aptKeyPath) {
      const keys = await RepositoryKeys.open(p.secrets.aptKeyPath);
      if (keys.shared) p.log.warn(`SLUICE_APT_KEY names one key file (${keys.location}) that signs every ring's APT index: a hub can then hand one ring's index to another ring's new machines. Make one key per ring with "sluice keygen --apt --out DIR", point SLUICE_APT_KEY at DIR, and give endpoints their ring's .sources file ("sluice apt-source"): see the CHANGELOG`);
      const types = new Set([...p.topology.feeds.values()].map((f) => f.type));
      if (types.has('apt')) this.aptPublisher = new AptPublisher({ catalog: p.catalog, writer: this.writer, store: p.store, state: feedState, keys, topology: p.topology, log: p.log.child({ component: 'apt' }), validMs: p.topology.trust.aptIndexTtlMs });
      // The same ring keys sign each ring's dnf repositories (repomd.xml.asc).
      if (types.has('rpm')) this.rpmPublisher = new RpmPublisher({ catalog: p.catalog, writer: this.writer, store: p.store, state: feedState, keys, topology: p.topology, log: p.log.child({ component: 'rpm' }), checks });
    } else p.log.warn('SLUICE_APT_KEY is not set: feed packages replicate, but no signed APT repository is published for stock apt clients; create the rings\' keys with "sluice keygen --apt --out DIR"');
    // The primary's own region windows pace what it takes from vendors.
    const region = p.topology.regions.get(p.spec.region)!;
    this.vendorSchedule = new ScheduleController(p.spec.schedule ?? region.schedule, region.timezone, region.critical, p.metrics, p.log.child({ component: 'schedule' }));
    this.vendorSchedule.start();
    this.downloader = this.newDownloader(p, { normal: this.vendorSchedule.budget, critical: this.vendorSchedule.criticalBudget });
    this.vendor = new VendorPlanner({ catalog: p.catalog, store: p.store, feeds: p.topology.feeds, downloader: this.downloader, dispatcher: this.vendorClient, checkFile: checks.check.bind(checks) });
    // A vendor file stored completes packages for the rings' indexes and repositories.
    const publishers = [this.aptPublisher, this.rpmPublisher];
    this.downloader.onStored(() => publishers.forEach((publisher) => publisher?.wake()));
  }

  /**
   * The promotion gates (rings: { R: { promote } }), built once the node's report rollup and
   * audit trail exist: they read the whole tree's reports and record what they approve.
   */
  async buildPromotions(p: PrimaryParts, o: { reports: () => Readonly<Record<string, SiteSummary>>; audit: AuditLog }): Promise<void> {
    if (p.topology.promotions.size === 0) return;
    const log = await PromotionLog.open(p.db, sublevels(p.db).state);
    this.promotions = new PromotionGates({ catalog: p.catalog, writer: this.writer, topology: p.topology, reports: o.reports, log, audit: o.audit, metrics: p.metrics, logger: p.log.child({ component: 'promotions' }), everyMs: p.tuning.promoteEveryMs });
  }

  /** Starts the background work once the node serves. */
  start(): void {
    this.promotions?.start();
    this.retention?.start();
    this.feeds?.start();
    this.vendor?.start();
    this.downloader.start();
    this.aptPublisher?.start();
    this.rpmPublisher?.start();
  }

  /** In order: stop taking from vendors, then stop signing. */
  closeSteps(): CloseStep[] {
    return [
      ['feeds', () => this.feeds?.close()],
      ['vendor planner', () => this.vendor?.close()],
      ['downloads', () => this.downloader.close()],
      ['vendor schedule', () => this.vendorSchedule?.close()],
      ['apt index', () => this.aptPublisher?.close()],
      ['dnf repositories', () => this.rpmPublisher?.close()],
      ['promotions', () => this.promotions?.close()],
      ['retention', () => this.retention?.close()],
      ['writer', () => this.writer.close()],
      ['vendor connections', () => this.vendorClient?.destroy()],
    ];
  }
}

/**
 * The primary's catalog signing keys: SLUICE_SIGNING_KEY, a path or a comma-separated list
 * (the old and the new key while a rotation is applied). The writer signs with the one the
 * root in force lists, and refuses to start with none.
 */
export function loadSigningKeys(spec: NodeSpec, secrets: Secrets) {
  if (!secrets.signingKeyPath) {
    throw new SluiceError('KEY_MISSING', `node ${spec.name} is the primary and needs the catalog signing key: set SLUICE_SIGNING_KEY to the path of catalog.key (create a pair with "sluice keygen --out DIR")`);
  }
  return secrets.signingKeyPath.split(',').map((file) => readPrivateKey(file.trim(), 'the catalog signing key (SLUICE_SIGNING_KEY)'));
}
