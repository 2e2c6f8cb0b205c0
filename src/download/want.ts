import type { Dispatcher } from 'undici';
import type { Severity } from '../domain/severity.js';
import type { SluiceError } from '../errors.js';
import type { RateBudget } from '../schedule/rate-budget.js';
import type { DownloadTarget } from '../store/download.js';
import type { HeldLease } from './arrival.js';
import type { DownloadTuning } from './tuning.js';

/**
 * A blob a planner wants this node to hold: what it is, how urgent, and where its bytes come
 * from. The downloader fetches it, most urgent first, until it is stored or no longer wanted.
 */
export interface Want {
  readonly sha256: string;
  /** The catalog's size: nothing beyond it is accepted. */
  readonly size: number;
  /** Higher first (the planner's order: replicate/priority.ts). */
  readonly priority: number;
  readonly source: Source;
  /** Critical blobs have slots and a byte budget of their own: a closed window's bulk never blocks them. */
  readonly severity: Severity;
  /** The packages that want it, for status and messages. */
  readonly packages: readonly string[];
}

/** Where one attempt at a blob goes: a node's blob route, or a plain URL (a vendor's file). */
export interface Route {
  /** Shown in status, metrics and messages: a node's name, or `feed:NAME`. */
  readonly name: string;
  /** A node's base URL (its blob route is asked, with this node's name and If-Range). */
  readonly node?: string;
  /** A plain URL asked for the file itself (a vendor's pool): no Sluice header, a resume by Range alone. */
  readonly url?: string;
  /** A sibling of this node's site, reached over the LAN. */
  readonly sibling?: boolean;
  /** The budget this attempt takes its bytes from instead of the node's (the LAN: unlimited). */
  readonly budget?: RateBudget;
  /** The site lease this attempt holds (given back by the arrival). */
  readonly lease?: HeldLease;
  /** The connection pool to ask through (the node's peer client; the vendor's, proxies applied). */
  readonly dispatcher?: Dispatcher;
}

/**
 * A download's bytes read from `start` to its end, in order (a file, a buffer): what a
 * source's `check` reads. The caller ends the generator (return) once it has read enough.
 */
export type BytesFrom = (start: number) => AsyncGenerator<Buffer>;

/** What the downloader gives one attempt: the byte budget, its signal, and where progress goes. */
export interface Attempt {
  readonly budget: RateBudget;
  readonly signal: AbortSignal;
  readonly tuning: Pick<DownloadTuning, 'stallMs' | 'checkpointBytes' | 'checkpointMs'>;
  /** Leave the final sync to the commit round (one round syncs many files at once). */
  readonly deferSync: boolean;
  /** The resume point is known: the bytes already held. */
  readonly onResume: (offset: number) => void;
  /** The download holds `written` bytes now (children may be relayed them). */
  readonly onProgress: (written: number) => void;
  /** `n` more bytes were received (rate, counters). */
  readonly onBytes: (n: number) => void;
}

/** A verified download: every byte is held and hashed to the catalog's sha256, ready for its commit. */
export interface FetchOutcome {
  /** Offset the transfer resumed from (0 when it started fresh). */
  readonly resumedFrom: number;
  /** Body bytes received by this attempt. */
  readonly received: number;
}

/**
 * Where bytes come from: a node peer (upstream, fallbacks, siblings of a site), a vendor URL,
 * later an offline disk. It picks each attempt's route, moves the bytes of one attempt
 * (verified, into the download or into memory), and hears how the attempt went; the
 * downloader does the rest (lanes, the download's life, relays, commit, failure policy).
 */
export interface Source {
  /**
   * Where the next attempt goes. `shared`: a large blob that siblings of a site may fetch
   * once for all of them (one of them under a lease, the others from it); `avoid`: a sibling
   * that already failed this blob.
   */
  route(want: Want, o: { readonly shared: boolean; readonly avoid?: string }): Promise<Route>;
  /**
   * One attempt at a large blob through `route` into `download`: resumed from what it holds,
   * verified against its sha256 before it resolves (download/fetch-blob.ts). Throws
   * TransferPaused when the budget pauses it, a SluiceError otherwise.
   */
  fetch(route: Route, download: DownloadTarget, attempt: Attempt): Promise<FetchOutcome>;
  /** A small blob through `route`, whole into memory and verified (download/fetch-small-blob.ts). */
  fetchWhole(route: Route, want: Want, attempt: Pick<Attempt, 'budget' | 'signal' | 'tuning' | 'onBytes'>): Promise<Buffer>;
  /** The attempt through `route` succeeded (a failing peer is healthy again). */
  succeeded(route: Route): void;
  /** The attempt failed by the route's fault: true when the source moved on to another peer. */
  failed(route: Route, e: SluiceError): boolean;
  /** Fetches many small blobs per request (a node peer); absent: one request each. */
  readonly batches?: BatchFetcher;
  /**
   * What the bytes must pass beyond their sha256 before they are stored or relayed whole (an
   * RPM feed's package signature): called once they hashed to the catalog's sha256; a throw
   * drops them. Absent: the sha256 is enough (the catalog, or a signed index, pins it).
   */
  readonly check?: (bytes: BytesFrom, want: Want) => Promise<void>;
  /**
   * A 404 means "not there yet" (a node that will hold it: asked again within seconds, blamed
   * only after `missingAfterMs`) rather than "not there" (a vendor: backed off like any failure).
   */
  readonly notFoundIsTransient: boolean;
}

/** Many small blobs in one request to a node (blob-batcher.ts). */
export interface BatchFetcher {
  /** False once `node` answered that it has no batch route. */
  supports(node: string): boolean;
  /** Calls `onBlob` once per item, with its verified bytes or its error; never rejects. */
  fetchBatch(
    route: Pick<Route, 'name' | 'node' | 'dispatcher'>,
    items: readonly { readonly sha256: string; readonly size: number }[],
    signal: AbortSignal,
    onBlob: (sha256: string, outcome: Buffer | SluiceError) => void,
    onSending?: () => void,
  ): Promise<void>;
}
