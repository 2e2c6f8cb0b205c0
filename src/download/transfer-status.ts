import type { TransferState } from '../domain/labels.js';
import type { TransferStatus } from '../protocol/status.js';
import type { TransferView } from './task.js';

/** The first `max` transfers in status order, in the wire shape of status (protocol/status.ts). */
export function transferStatuses(transfers: ReadonlyMap<string, TransferView>, max = Infinity): TransferStatus[] {
  return firstInStatusOrder(transfers, max).map((t) => ({
    sha256: t.want.sha256,
    packages: t.want.packages,
    severity: t.want.severity,
    size: t.want.size,
    offset: t.offset,
    state: t.state,
    rateBytesPerSec: Math.round(t.rateBytesPerSec),
    attempts: t.attempts,
    peer: t.route ?? null,
    lastError: t.lastError ?? null,
  }));
}

/**
 * The first `max` transfers in status order (state, then most urgent; ties in the order
 * given), without sorting them all: status lists 100 of ten thousand queued blobs, and is
 * asked for several times a second while they replicate.
 */
function firstInStatusOrder(tasks: ReadonlyMap<string, TransferView>, max: number): TransferView[] {
  if (max <= 0) return [];
  const keyOf = (t: TransferView) => stateOrder(t.state) * 1e14 - t.want.priority;
  // Most of them asked for: one sort (stable) is cheaper than inserting one by one.
  if (max * 8 >= tasks.size) {
    return [...tasks.values()]
      .map((t) => ({ t, key: keyOf(t) }))
      .sort((a, b) => a.key - b.key)
      .slice(0, max)
      .map((p) => p.t);
  }
  const picked: { t: TransferView; key: number }[] = [];
  for (const t of tasks.values()) {
    const key = keyOf(t);
    if (picked.length === max && key >= picked[max - 1]!.key) continue;
    // After every pick with a key at most this one's: ties keep their order.
    let lo = 0;
    let hi = picked.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (picked[mid]!.key <= key) lo = mid + 1;
      else hi = mid;
    }
    picked.splice(lo, 0, { t, key });
    if (picked.length > max) picked.pop();
  }
  return picked.map((p) => p.t);
}

function stateOrder(s: TransferState): number {
  return ['active', 'verifying', 'paused', 'queued', 'waiting'].indexOf(s);
}
