import { z } from 'zod';
import { SubtreeMirror } from '../protocol/subtree-mirror.js';
import type { PushedEntry } from '../protocol/subtree-pusher.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import type { AuditEntry, AuditLog } from './audit-log.js';

/** Entries of each node that travel upward: its newest, so head office sees recent acts everywhere. */
export const PUSHED_AUDIT_ENTRIES = 100;
/** One node's pushed entries, serialized, at most (100 entries of bounded fields). */
const MAX_AUDIT_ENTRY_BYTES = 128 * 1024;

const text = (max: number) => z.string().max(max);
const auditEntrySchema = z
  .object({
    seq: z.number().int().nonnegative(),
    at: text(40),
    who: text(200),
    role: text(20).nullable(),
    via: text(20).nullable(),
    source: text(200),
    act: text(40),
    target: text(200).nullable(),
    outcome: text(60),
  })
  .strip();
const recentAuditSchema = z.object({ entries: z.array(auditEntrySchema).max(PUSHED_AUDIT_ENTRIES) }).strip();
export type RecentAudit = z.infer<typeof recentAuditSchema>;

/**
 * The audit trails of a node's whole subtree: its own newest entries plus what the nodes
 * below pushed of theirs (the change-only pushes of subtree-push.ts, each entry checked at
 * every hop), so the primary shows who did what at any site. Each node keeps its full trail
 * itself (audit-log.ts); the tree view holds each node's newest PUSHED_AUDIT_ENTRIES.
 */
export class AuditRollup {
  private readonly mirror: SubtreeMirror<RecentAudit>;

  constructor(
    topology: Topology,
    private readonly self: NodeSpec,
    private readonly log: AuditLog,
    staleMs: number,
  ) {
    this.mirror = new SubtreeMirror(topology, self, recentAuditSchema, MAX_AUDIT_ENTRY_BYTES, staleMs);
  }

  accept(body: unknown, caller: string | undefined): void {
    this.mirror.accept(body, caller);
  }

  /** This node's newest entries and everything below, for the push upstream. */
  forPush(): Map<string, PushedEntry<RecentAudit>> {
    const out = new Map<string, PushedEntry<RecentAudit>>([[this.self.name, { parent: null, value: { entries: this.log.recent() }, stale: false }]]);
    for (const e of this.mirror.entries()) out.set(e.name, { parent: e.parent, value: e.value, stale: e.stale });
    return out;
  }

  /** Every node's newest entries below this one, each tagged with its node. */
  below(): (AuditEntry & { node: string })[] {
    return this.mirror.entries().flatMap((e) => e.value.entries.map((entry) => ({ ...entry, node: e.name })));
  }
}

/** What changes a node's pushed entry: a new act there. */
export const auditChangeKey = (v: RecentAudit): string => String(v.entries.at(-1)?.seq ?? 0);
