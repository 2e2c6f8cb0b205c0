import type { SluiceError } from '../errors.js';
import { backoffMs } from './backoff.js';
import type { ReplicationTuning } from './tuning.js';

/** Failures that are the peer's doing: they count towards failing over to a fallback upstream. */
export const PEER_FAULTS: ReadonlySet<string> = new Set(['UPSTREAM_UNREACHABLE', 'UPSTREAM_BAD_RESPONSE', 'TRANSFER_STALLED', 'HASH_MISMATCH']);

/** What to do after a failed attempt at a blob. */
export interface FailureVerdict {
  /** Count it against the peer (towards failing over). */
  readonly blamePeer: boolean;
  /** Since when the peer has answered 404 for this blob (undefined once it answers otherwise). */
  readonly notFoundSince: number | undefined;
  /** Try again after this long; undefined: not until the catalog changes (retrying cannot help). */
  readonly retryInMs: number | undefined;
}

/**
 * The failure policy of blob transfers, in one place: which errors blame the peer, when a
 * 404 becomes the peer's fault (withheld, lost or misconfigured upstream: after
 * `missingAfterMs`, so the subtree fails over to a fallback that holds the blob), and the
 * backoff before the next attempt (`attempts` counts this one).
 */
export function judgeFailure(e: Pick<SluiceError, 'code' | 'retryable'>, attempts: number, notFoundSince: number | undefined, now: number, tuning: Pick<ReplicationTuning, 'missingAfterMs' | 'backoffFloorMs' | 'backoffCapMs'>): FailureVerdict {
  const notFound = e.code === 'BLOB_NOT_FOUND';
  const since = notFound ? (notFoundSince ?? now) : undefined;
  const blamePeer = notFound ? now - since! >= tuning.missingAfterMs : PEER_FAULTS.has(e.code);
  // The error's own flag decides: one that retrying cannot help is not retried.
  if (!e.retryable) return { blamePeer, notFoundSince: since, retryInMs: undefined };
  // An upstream that does not hold the blob yet will soon (or relays it as it arrives): ask
  // again quickly rather than backing off for a minute.
  const retryInMs = notFound ? backoffMs(attempts - 1, 200, 2000) : backoffMs(attempts - 1, tuning.backoffFloorMs, tuning.backoffCapMs);
  return { blamePeer, notFoundSince: since, retryInMs };
}
