import { z } from 'zod';
import { isPrintable } from '../domain/printable.js';
import { PushRefused } from '../protocol/push.js';
import { SubtreeMirror } from '../protocol/subtree-mirror.js';
import type { PushedEntry } from '../protocol/subtree-push.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { FIELD_MAX, RECENT, type AuditEntry, type AuditLog } from './audit-log.js';

/** Entries of each node that travel upward: its newest, so head office sees recent acts everywhere. */
export const PUSHED_AUDIT_ENTRIES = RECENT;
/** One node's pushed entries, serialized, at most (100 entries of bounded fields). */
const MAX_AUDIT_ENTRY_BYTES = 128 * 1024;

/** A time as nodes write it (Date#toISOString): anything else is not a time this hop can order. */
const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/;

const text = (max: number) => z.string().max(max).refine(isPrintable, 'holds control or format characters (CR, LF, escape codes, bidirectional overrides)');
/**
 * One pushed entry, as every hop checks it: bounded text that prints as itself (the node that
 * wrote it escaped the rest), and a real time, clamped to no later than its arrival here, so
 * an entry dated in the future cannot sort above every real act.
 */
const auditEntrySchema = z
  .object({
    seq: z.number().int().nonnegative().finite(),
    at: z
      .string()
      .max(40)
      .regex(ISO_UTC, 'expected a UTC time such as 2026-01-31T12:00:00.000Z')
      .refine((s) => Number.isFinite(Date.parse(s)), 'not a real time')
      .transform((s) => new Date(Math.min(Date.parse(s), Date.now())).toISOString()),
    who: text(FIELD_MAX),
    role: text(20).nullable(),
    via: text(20).nullable(),
    source: text(FIELD_MAX),
    act: text(40),
    target: text(FIELD_MAX).nullable(),
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
 *
 * Which node an entry belongs to is never taken from the entry: it is the node the push
 * files it under, and a push is accepted only from a proven node (its certificate or its own
 * peer token) naming nodes of its own subtree (subtree-mirror.ts). The tree-wide peer token
 * of earlier versions proves no node, so it cannot add to the trail of the tree.
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

  /** `caller`: the proven node; undefined when the tree-wide token was used (refused, 403). */
  accept(body: unknown, caller: string | undefined): void {
    if (caller === undefined) {
      throw new PushRefused('unproven_node', `audit entries are accepted only from a node that proves its name (its certificate, or its own token in SLUICE_PEER_TOKENS at ${this.self.name}); the tree-wide SLUICE_PEER_TOKEN names no node`);
    }
    this.mirror.accept(body, caller);
  }

  /** This node's newest entries and everything below, for the push upstream. */
  forPush(): Map<string, PushedEntry<RecentAudit>> {
    const out = new Map<string, PushedEntry<RecentAudit>>([[this.self.name, { parent: null, value: { entries: this.log.recent() }, stale: false }]]);
    for (const e of this.mirror.entries()) out.set(e.name, { parent: e.parent, value: e.value, stale: e.stale });
    return out;
  }

  /** This node's newest entries and those of every node below, by node. */
  byNode(): Record<string, readonly AuditEntry[]> {
    const out: Record<string, readonly AuditEntry[]> = { [this.self.name]: this.log.recent() };
    for (const e of this.mirror.entries()) out[e.name] = e.value.entries;
    return out;
  }
}

/** What changes a node's pushed entry: a new act there. */
export const auditChangeKey = (v: RecentAudit): string => String(v.entries.at(-1)?.seq ?? 0);
