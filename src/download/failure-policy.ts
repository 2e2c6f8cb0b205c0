import type { SluiceError } from '../errors.js';
import { backoffMs } from './backoff.js';
import type { DownloadTuning } from './tuning.js';

/** Failures that are the peer's doing: they count towards failing over to a fallback upstream. */
export const PEER_FAULTS: ReadonlySet<string> = new Set(['UPSTREAM_UNREACHABLE', 'UPSTREAM_BAD_RESPONSE', 'TRANSFER_STALLED', 'HASH_MISMATCH']);

/** A node that does not hold a blob yet asks again this quickly: it may arrive any moment. */
const SOON = { floorMs: 200, capMs: 2000 } as const;

/** What to do after a failed attempt at a blob. */
export interface FailureVerdict {
  /** Count it against the peer (towards failing over). */
  readonly blamePeer: boolean;
  /** Show it as the transfer's (and the node's) last error: false for a blob the peer is still fetching. */
  readonly record: boolean;
  /** Since when the peer has answered 404 for this blob (undefined once it answers otherwise). */
  readonly notFoundSince: number | undefined;
  /** Try again after this long. */
  readonly retryInMs: number;
}

/**
 * The failure policy of blob transfers, in one place: which errors blame the peer, when a
 * 404 becomes the peer's fault (withheld, lost or misconfigured upstream: after
 * `missingAfterMs`, so the subtree fails over to a fallback that holds the blob), which are
 * no error at all (the peer is fetching the blob itself: BLOB_PENDING), and the backoff
 * before the next attempt (`attempts` counts this one). `notFoundIsTransient`: the source is
 * a node that will hold the blob (a vendor's 404 is backed off like any failure).
 */
export function judgeFailure(
  e: Pick<SluiceError, 'code' | 'retryable'>,
  attempts: number,
  notFoundSince: number | undefined,
  now: number,
  tuning: Pick<DownloadTuning, 'missingAfterMs' | 'backoffFloorMs' | 'backoffCapMs'>,
  notFoundIsTransient = true,
): FailureVerdict {
  // The peer is fetching the blob itself (queued there, or waiting on its own source): the
  // same as a relay that has not started. Not an error, not the peer's fault; asked again soon.
  if (e.code === 'BLOB_PENDING') return { blamePeer: false, record: false, notFoundSince: undefined, retryInMs: backoffMs(attempts - 1, SOON.floorMs, SOON.capMs) };
  const notFound = e.code === 'BLOB_NOT_FOUND' && notFoundIsTransient;
  const since = notFound ? (notFoundSince ?? now) : undefined;
  // A relay that failed because the peer's own transfer failed is its upstream's doing, not the peer's.
  const blamePeer = notFound ? now - since! >= tuning.missingAfterMs : PEER_FAULTS.has(e.code);
  // The error's own flag decides: one that retrying cannot help (a vendor package whose
  // signature fails, a refusal) waits the longest, shown meanwhile as the transfer's error: the
  // same bytes never pass, and what could change (a keyring, a grant) is a person's act.
  if (!e.retryable) return { blamePeer, record: true, notFoundSince: since, retryInMs: tuning.backoffCapMs };
  // An upstream that does not hold the blob yet will soon (or relays it as it arrives): ask
  // again quickly rather than backing off for a minute.
  const retryInMs = notFound ? backoffMs(attempts - 1, SOON.floorMs, SOON.capMs) : backoffMs(attempts - 1, tuning.backoffFloorMs, tuning.backoffCapMs);
  return { blamePeer, record: true, notFoundSince: since, retryInMs };
}
