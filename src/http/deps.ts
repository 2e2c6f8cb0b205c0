/**
 * What the HTTP layer is given by the daemon, and the limits it enforces: its own module, so
 * that the server and every route import it and none imports another.
 */
import type { PromotionsView } from '../reports/promotion-view.js';
import type { AdminTokens } from '../auth/admin-tokens.js';
import type { Credentials } from '../auth/credentials.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditRollup } from '../audit/audit-rollup.js';
import type { RefusalThrottle } from '../auth/refusal-throttle.js';
import type { ConsoleSessions } from '../auth/console-sessions.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ReportStore, SiteSummary } from '../reports/report-store.js';
import type { EgressLimiter } from '../schedule/egress.js';
import type { BlobStore } from '../store/blob-store.js';
import type { VerifyReport } from '../store/verify-store.js';
import type { TlsMaterial } from '../tls/tls-files.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import type { Downloader } from '../download/downloader.js';
import type { UpdatesBody, UpdatesQuery } from '../catalog/updates-cache.js';
import type { PeerAuth } from './peer-auth.js';

/** Receives a push from a downstream node; throws PushRefused (403) under the subtree rule. */
export interface PushReceiver {
  accept(body: unknown, caller: string | undefined): void;
}

/** The primary's vendor feeds (feeds/feed-scheduler.ts), as the API shows and drives them. */
export interface FeedsApi {
  list(): Promise<unknown[]>;
  syncNow(name: string): Promise<unknown>;
}

/** The advisories RPM feeds listed, at the primary. */
export interface AdvisoriesApi {
  /** The catalog ids of the packages advisory `id` names, or undefined for an advisory no feed listed. */
  packagesOf(id: string): Promise<readonly string[] | undefined>;
  /** The advisories that name package `id` (their ids), or undefined when none does. */
  advisoriesOf(id: string): Promise<readonly string[] | undefined>;
}

/** A file an APT client is answered with (apt-serving.ts). */
export interface AptFileRef {
  readonly sha256: string;
  readonly size: number;
  readonly contentType: string;
  readonly immutable: boolean;
}

/** Each ring's signed APT repository as this node serves it. */
export interface AptApi {
  resolve(ring: string, rel: string): Promise<AptFileRef | undefined>;
  /** The rings this node holds an APT index of (for a message naming them). */
  ringsHeld(): string[];
  /** Each ring's key fingerprint as the catalog names it (GET /v1/root). */
  ringKeyFingerprints(): Promise<{ ring: string; fingerprint: string }[]>;
}

/** Each ring's signed dnf repositories as this node serves them. */
export interface RpmApi {
  resolve(ring: string, rel: string): Promise<AptFileRef | undefined>;
  /** The rings this node holds a dnf repository of (for a message naming them). */
  ringsHeld(): string[];
  /** Each ring's key fingerprint as the catalog names it (GET /v1/root). */
  ringKeyFingerprints(): Promise<{ ring: string; fingerprint: string }[]>;
}

export interface HttpDeps {
  readonly topology: Topology;
  readonly node: NodeSpec;
  readonly store: BlobStore;
  readonly catalog: CatalogLog;
  /** Present on the primary only. */
  readonly writer: CatalogWriter | undefined;
  /** Who an administrative caller is and its role: named tokens, else SLUICE_ADMIN_TOKEN (admin). */
  readonly credentials: Credentials;
  /** The console's client secret at the identity provider (access.signIn); undefined: a public client. */
  readonly oidcClientSecret?: string;
  /** Who did what here: decisions, sensitive acts and sign-ins (GET /v1/audit). */
  readonly audit: AuditLog;
  /** The newest audit entries of every node below, from their pushes (GET /v1/audit?tree=1). */
  readonly auditRollup: AuditRollup;
  /** Wrong credentials per source address: logged, counted, and answered 429 past a limit. */
  readonly refusals?: RefusalThrottle;
  /** Console sign-ins made from a token; they may stand in for it on admin routes, with its role. */
  readonly sessions: ConsoleSessions;
  /** Who a node-to-node call comes from (certificate or per-node token). */
  readonly peerAuth: PeerAuth;
  /** TLS material when the node's url is https:// (served with mutual TLS); undefined: plain HTTP. */
  readonly tls: TlsMaterial | undefined;
  /** The latest status each downstream node pushed (the subtree rule applied by `accept`). */
  readonly children: PushReceiver;
  /** Tokens endpoints present to report (SLUICE_ENDPOINT_TOKEN). */
  readonly endpointTokens: AdminTokens;
  readonly reports: ReportStore;
  /** Report figures of the subtree: pushes from children, and the summary of every site. */
  readonly rollup: PushReceiver & { subtree(): Record<string, SiteSummary>; adoptFile(body: unknown): { node: string; sites: number; exportedAt: string } };
  /** Re-hashes the store (admin): quarantines and re-fetches what fails. */
  readonly verify: () => Promise<VerifyReport>;
  /** Takes an export (sluice export) from a directory on this host into the node. */
  readonly importExport: (dir: string, maxAgeMs?: number) => Promise<unknown>;
  readonly metrics: Metrics;
  readonly logger: Logger;
  readonly isReady: () => { ready: boolean; reason?: string };
  readonly status: () => unknown;
  /** The node's one downloader: blobs arriving now are relayed from it (cut-through), and it says which are on their way. */
  readonly downloads: Pick<Downloader, 'relay' | 'pending'>;
  /** What `/v1/updates` offers an endpoint (catalog/updates-cache.ts decides; HTTP only answers). */
  readonly updates: { answer(question: UpdatesQuery): UpdatesBody };
  /** The rings' APT repositories (every node; empty until the primary publishes one). */
  readonly apt?: AptApi;
  /**
   * On a primary with feeds: what an approval of feed packages for a ring leaves unmet among
   * their Depends/Pre-Depends that a feed version would meet (feeds/dependency-check.ts).
   */
  readonly approvalCheck?: (ids: readonly string[], ring: string) => Promise<readonly { package: string; needs: string; candidate: string; source: string; message: string }[]>;
  /**
   * On a primary with feeds: the advisories its RPM feeds listed (feeds/feed-state.ts), each
   * with the catalog packages it names: the unit `POST /v1/approvals {advisory}` approves and
   * `GET /v1/packages?advisory=` filters by.
   */
  readonly advisories?: AdvisoriesApi;
  /**
   * On a primary with feeds: what a file put back by hand (PUT /v1/blobs) must pass before it
   * is stored, as a vendor's file does when it is fetched (an RPM feed's package signature);
   * throws the refusal.
   */
  readonly checkRestored?: (sha256: string, path: string) => Promise<void>;
  /** The rings' dnf repositories (every node; empty until the primary publishes one). */
  readonly rpm?: RpmApi;
  /** Promotion gates, on a primary whose topology gives a ring `promote` (promote/promotion-gates.ts): each pending and decided promotion, from ring to ring. */
  readonly promotions?: { view(): PromotionsView };
  /** Vendor feeds, on a primary whose topology has `feeds:`. */
  readonly feeds?: FeedsApi;
  /** Caps on what this node sends (egress: { rate, perChild }). */
  readonly egress: EgressLimiter;
  /** Largest single file accepted by publish. */
  readonly maxUploadBytes: number;
  /** A connection idle this long is cut (HTTP_LIMITS.idleTimeoutMs unless a test shortens it). */
  readonly idleTimeoutMs: number;
}

/** Limits on what a client may send; beyond them the request is refused, never buffered. */
export const HTTP_LIMITS = {
  jsonBodyBytes: 1024 * 1024,
  /**
   * Status and report rollups pushed by a child carry its whole subtree: a 1,000-node tree
   * measured about 10 MiB (test/integration/resource-limits), so pushes may be larger.
   */
  pushBodyBytes: 32 * 1024 * 1024,
  /**
   * No byte either way for this long cuts the connection: stalled uploads and report posts,
   * headers never finished, downloads nobody reads. Longer than the longest long-poll wait,
   * which the catalog route adds on top for its own requests.
   */
  idleTimeoutMs: 120_000,
  filesPerPackage: 1000,
  metaFieldBytes: 64 * 1024,
  /** Long-polls are capped so proxies and clients never hold a request forever. */
  maxWaitSeconds: 60,
  maxCatalogPage: 10_000,
  defaultCatalogPage: 1000,
} as const;

