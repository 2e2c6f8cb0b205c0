import type { Severity } from '../domain/severity.js';
import type { TransferState } from '../domain/labels.js';

/**
 * The status of a node, as `GET /v1/status` answers and `sluice status --json` prints it,
 * and as each node pushes it (with its subtree) to its upstream. Fields may be added, none
 * renamed or removed (README).
 */
export interface NodeStatus {
  node: string;
  primary: boolean;
  region: string;
  /** The rings this node belongs to (its `ring:` in the topology, else its region's); `all` packages go everywhere. */
  rings: string[];
  version: string;
  at: string;
  ready: boolean;
  /** null on the primary. */
  upstream: { preferred: string; current: string; lastSyncAt: string | null; clockSkewSeconds: number | null } | null;
  catalog: { seq: number; headExpires: string | null };
  store: { blobs: number; bytes: number };
  /**
   * What this node still has to fetch for its rings and its subtree: blobs and bytes, and the
   * packages those blobs belong to, most urgent first (`packages`, at most
   * PENDING_PACKAGES_SHOWN; `morePackages` counts the rest). Nodes of earlier versions send no
   * `packages`: what they hold is known only once nothing is pending.
   */
  pending: { blobs: number; bytes: number; packages?: string[]; morePackages?: number };
  transfers: TransferStatus[];
  /** null on the primary. */
  /** `window.label` and `window.rate` as written in the topology (`mon-fri 08:00-19:00 4Mbit/s`, `4Mbit/s`). */
  /** `background`: in a `rate: background` window, the rate chosen from the path's delay (base and current, ms) and why. */
  rate: { limitBytesPerSec: number | null; unlimited: boolean; window: { index: number; label: string; rate?: string } | null; nextChangeAt: string | null; background?: { rateBytesPerSec: number; baseDelayMs: number | null; delayMs: number | null; reason: string } } | null;
  forecast: { doneAt: string | null; pendingPackages: number; late: { id: string; severity: Severity; bytes: number; deadline: string; eta: string | null; late: boolean }[] };
  /**
   * The last error: `at` when last seen, `since` when first seen, `source` what failed, and
   * `clearedAt` once what failed has succeeded again (null while it holds).
   */
  lastError: { code: string; message: string; at: string; since?: string; source?: string; clearedAt?: string | null } | null;
  /** Wanted blobs the upstream has answered 404 for too long (withheld or lost there). */
  missing: { sha256: string; packages: readonly string[]; peer: string; since: string }[];
  /** On the primary: catalogued blobs whose file is gone. */
  lost: { sha256: string; packages: string[] }[];
  warnings: string[];
  /** Each downstream node's last push (`null` until it has pushed), with when it arrived. */
  children: Record<string, ChildStatus | null>;
}

/** Pending packages a node names in its status; a bound, since statuses climb the whole tree. */
export const PENDING_PACKAGES_SHOWN = 100;

export type ChildStatus = NodeStatus & { receivedAt: string; stale: boolean };

export interface TransferStatus {
  sha256: string;
  packages: readonly string[];
  severity: Severity;
  size: number;
  offset: number;
  state: TransferState;
  rateBytesPerSec: number;
  attempts: number;
  peer: string | null;
  lastError: { code: string; message: string; at: string } | null;
}

/** A peer clock further off than this is shown as a warning in status (and logged once by the catalog follower). */
export const CLOCK_SKEW_WARN_SECONDS = 30;
