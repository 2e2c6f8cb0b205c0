import type { AuditEntry } from './audit-log.js';

export type NodeAuditEntry = AuditEntry & { readonly node: string };

const byTime = (a: AuditEntry, b: AuditEntry) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.seq - b.seq);

/**
 * The newest `limit` entries of several nodes' trails, shared fairly: the newest entry of
 * every node first, then the second newest of every node, and so on (within a round, newer
 * first), so one node's many entries, or a burst at one site, cannot crowd every other node
 * out of the view. Returned oldest first, each with its node.
 */
export function fairNewest(byNode: Readonly<Record<string, readonly AuditEntry[]>>, limit: number): NodeAuditEntry[] {
  const ranked: { entry: NodeAuditEntry; rank: number }[] = [];
  for (const [node, entries] of Object.entries(byNode)) {
    const sorted = [...entries].sort(byTime);
    sorted.forEach((e, i) => ranked.push({ entry: { ...e, node }, rank: sorted.length - 1 - i }));
  }
  ranked.sort((a, b) => a.rank - b.rank || byTime(b.entry, a.entry) || (a.entry.node < b.entry.node ? -1 : 1));
  return ranked
    .slice(0, limit)
    .map((r) => r.entry)
    .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0) || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0) || a.seq - b.seq);
}
