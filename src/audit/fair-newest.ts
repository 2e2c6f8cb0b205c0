import type { AuditEntry } from './audit-log.js';

export type NodeAuditEntry = AuditEntry & { readonly node: string };

const byTime = (a: AuditEntry, b: AuditEntry) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.seq - b.seq);
const byNode = (a: NodeAuditEntry, b: NodeAuditEntry) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0);

/** Oldest first; a node's entries usually arrive in that order already, so sorting is mostly skipped. */
function inTimeOrder(entries: readonly AuditEntry[]): readonly AuditEntry[] {
  for (let i = 1; i < entries.length; i++) if (byTime(entries[i - 1]!, entries[i]!) > 0) return [...entries].sort(byTime);
  return entries;
}

/**
 * The newest `limit` entries of several nodes' trails, shared fairly: the newest entry of
 * every node first, then the second newest of every node, and so on (within a round, newer
 * first), so one node's many entries, or a burst at one site, cannot crowd every other node
 * out of the view. Returned oldest first, each with its node. Only the rounds needed are
 * looked at: a tree of 500 nodes with 100 entries each costs two rounds for 1,000 entries.
 */
export function fairNewest(trails: Readonly<Record<string, readonly AuditEntry[]>>, limit: number): NodeAuditEntry[] {
  const nodes = Object.entries(trails).map(([node, entries]) => ({ node, entries: inTimeOrder(entries) }));
  const picked: NodeAuditEntry[] = [];
  for (let rank = 0; picked.length < limit; rank++) {
    const round: NodeAuditEntry[] = [];
    for (const { node, entries } of nodes) {
      const e = entries[entries.length - 1 - rank];
      if (e) round.push({ ...e, node });
    }
    if (round.length === 0) break;
    round.sort((a, b) => byTime(b, a) || byNode(a, b));
    picked.push(...round.slice(0, limit - picked.length));
  }
  return picked.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0) || byNode(a, b) || a.seq - b.seq);
}
