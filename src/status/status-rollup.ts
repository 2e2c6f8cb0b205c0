import { z } from 'zod';
import type { ChildStatus, NodeStatus } from '../protocol/status.js';
import type { SubtreePush } from '../protocol/subtree-push.js';
import { SubtreeMirror } from '../protocol/subtree-mirror.js';
import { MAX_STATUS_ENTRY_BYTES, ownStatusSchema } from '../protocol/status-schema.js';
import type { PushedEntry } from '../protocol/subtree-push.js';
import type { NodeSpec, Topology } from '../topology/types.js';

/** A node's status without its subtree: what travels up per node. */
export type OwnStatus = Omit<NodeStatus, 'children'>;

/**
 * Fields left out when deciding whether a status changed: they move on an idle node (the
 * time it was taken, the last catalog poll, clock skew by a few ms). They are sent along
 * with any real change, and at least every REFRESH_MS (subtree-pusher.ts).
 */
export function statusChangeKey(s: OwnStatus): string {
  return JSON.stringify({ ...s, at: undefined, upstream: s.upstream ? { ...s.upstream, lastSyncAt: undefined, clockSkewSeconds: undefined } : null });
}

/**
 * The statuses of every node below this one, from its children's pushes (subtree-push.ts),
 * so that any node, and the primary above all, can show the whole tree below it.
 */
export class ChildStatuses {
  private readonly mirror: SubtreeMirror<OwnStatus>;

  constructor(
    private readonly topology: Topology,
    private readonly self: NodeSpec,
    staleMs: number,
  ) {
    this.mirror = new SubtreeMirror(topology, self, ownStatusSchema, MAX_STATUS_ENTRY_BYTES, staleMs, legacyStatusPush);
  }

  /** Called after an accepted push that changed something below (to pass the news on soon). */
  onNews: () => void = () => {};

  accept(body: unknown, caller: string | undefined): void {
    this.mirror.accept(body, caller);
    const push = body as { entries?: Record<string, unknown>; removed?: unknown[]; status?: unknown };
    if (push.status !== undefined || Object.keys(push.entries ?? {}).length > 0 || (push.removed?.length ?? 0) > 0) this.onNews();
  }

  /** Every node below, for this node's own push upstream. */
  below(): Map<string, PushedEntry<OwnStatus>> {
    return new Map(this.mirror.entries().map((e) => [e.name, { parent: e.parent, value: e.value, stale: e.stale }]));
  }

  /**
   * The tree below as `GET /v1/status` nests it: each node's children are those the
   * topology gives it (null until heard from) and any that report to it from elsewhere
   * (a node on its fallback).
   */
  snapshot(): Record<string, ChildStatus | null> {
    const byParent = new Map<string, ReturnType<SubtreeMirror<OwnStatus>['entries']>>();
    for (const e of this.mirror.entries()) byParent.set(e.parent, [...(byParent.get(e.parent) ?? []), e]);
    const placed = new Set<string>([this.self.name]);
    const childrenOf = (name: string): Record<string, ChildStatus | null> => {
      const out: Record<string, ChildStatus | null> = {};
      for (const n of this.topology.nodes.values()) if (n.upstream === name && !placed.has(n.name)) out[n.name] = null;
      for (const e of byParent.get(name) ?? []) {
        // Each node once, even if pushes disagree about who its parent is.
        if (placed.has(e.name)) continue;
        placed.add(e.name);
        out[e.name] = { ...(e.value as NodeStatus), children: {}, receivedAt: new Date(e.receivedAt).toISOString(), stale: e.stale };
      }
      for (const [child, status] of Object.entries(out)) if (status) status.children = childrenOf(child);
      return out;
    };
    return childrenOf(this.self.name);
  }
}

/** A push from a node of an earlier version: `{ node, status }` with the subtree nested under `children`. */
function legacyStatusPush(body: unknown): SubtreePush<unknown> | undefined {
  const parsed = z.object({ node: z.string(), status: z.record(z.unknown()) }).safeParse(body);
  if (!parsed.success) return undefined;
  const push: SubtreePush<unknown> = { node: parsed.data.node, epoch: 'legacy', seq: 0, base: null, entries: {}, removed: [], stale: [] };
  // Nesting is bounded by the push size; names past the subtree rule are refused by the mirror.
  const walk = (name: string, status: Record<string, unknown>, parent: string | null, depth: number) => {
    if (depth > 64) return;
    const { children, receivedAt: _r, stale, ...own } = status;
    push.entries[name] = { parent, value: own };
    if (stale === true) push.stale.push(name);
    if (children && typeof children === 'object') for (const [child, s] of Object.entries(children)) if (s && typeof s === 'object') walk(child, s as Record<string, unknown>, name, depth + 1);
  };
  walk(parsed.data.node, parsed.data.status, null, 0);
  return push;
}
