import type { z } from 'zod';
import { SluiceError } from '../errors.js';
import { pullsFrom, subtreeOf } from '../topology/tree.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { PushRefused } from './push.js';
import { subtreePushEnvelopeSchema, type SubtreePush } from './subtree-push.js';

/** One node of the subtree as this node knows it. */
export interface MirrorEntry<V> {
  readonly name: string;
  /** The node it reports to (this node for a direct child). */
  readonly parent: string;
  readonly value: V;
  /** When the push that last vouched for it arrived here. */
  readonly receivedAt: number;
  /** Its own push chain has gone quiet (here or below). */
  readonly stale: boolean;
}

interface ChildState<V> {
  epoch: string;
  seq: number;
  receivedAt: number;
  stale: Set<string>;
  entries: Map<string, { parent: string; value: V }>;
}

/**
 * What the direct children pushed about their subtrees (subtree-push.ts), merged: each push
 * whole or as changes on the last one this node acknowledged. Pushes are accepted only from
 * a node that pulls from this one, as upstream or fallback, speaking for itself (the proven
 * caller) and naming only nodes of its own subtree: a stolen branch credential cannot
 * overwrite head office's figures or another branch's.
 */
export class SubtreeMirror<V> {
  private readonly children = new Map<string, ChildState<V>>();

  constructor(
    private readonly topology: Topology,
    private readonly self: NodeSpec,
    /** What one node's entry must look like; checked at every hop, whoever relays it. */
    private readonly value: z.ZodType<V, z.ZodTypeDef, unknown>,
    /** Largest entry, serialized: one node cannot make every answer above it huge. */
    private readonly maxEntryBytes: number,
    private readonly staleMs: number,
    /** A push in the shape nodes of earlier versions send (whole, nested), as a whole push; undefined if it is not one. */
    private readonly legacy?: (body: unknown) => SubtreePush<unknown> | undefined,
  ) {}

  /**
   * `caller`: the proven node, or undefined for the legacy shared token (the body names it).
   * A push with one entry of the wrong shape or size is refused whole (PushRefused, 400):
   * nothing of it is stored, so nothing of it is relayed upward or rendered.
   */
  accept(body: unknown, caller: string | undefined, now = Date.now()): void {
    const parsed = subtreePushEnvelopeSchema.safeParse(body);
    const envelope = parsed.success ? parsed.data : this.legacy?.(body);
    if (!envelope) throw new SluiceError('BAD_REQUEST', `expected { "node": NAME, "epoch", "seq", "base", "entries": { NODE: { "parent", "value" } }, "removed", "stale" }: ${parsed.error?.issues[0]?.path.join('.') ?? ''} ${parsed.error?.issues[0]?.message ?? 'invalid'}`);
    const node = envelope.node;
    if (caller !== undefined && caller !== node) throw new PushRefused('wrong_node', `node ${caller} pushed figures as "${node}"; a node speaks only for itself`);
    if (!pullsFrom(this.topology, node, this.self.name)) {
      throw new PushRefused('not_downstream', `node "${node}" does not pull from ${this.self.name}; only its downstream nodes report here`);
    }
    const allowed = new Set([node, ...subtreeOf(this.topology, node).map((n) => n.name)]);
    for (const [name, e] of Object.entries(envelope.entries)) {
      if (!allowed.has(name) || (e.parent !== null && !allowed.has(e.parent))) throw new PushRefused('outside_subtree', `node ${node} pushed figures for "${name}", which is not in its subtree; refused whole`);
    }
    const push = this.checkEntries(envelope);
    let state = this.children.get(node);
    if (push.base === null) {
      state = { epoch: push.epoch, seq: push.seq, receivedAt: now, stale: new Set(), entries: new Map() };
      this.children.set(node, state);
    } else if (!state || state.epoch !== push.epoch || state.seq !== push.base) {
      throw new SluiceError('PUSH_BASE_UNKNOWN', `node ${node} sent changes since its push ${push.base}, which ${this.self.name} does not hold; send the whole subtree`);
    }
    for (const [name, e] of Object.entries(push.entries)) state.entries.set(name, { parent: e.parent ?? this.self.name, value: e.value });
    for (const name of push.removed) state.entries.delete(name);
    state.seq = push.seq;
    state.receivedAt = now;
    state.stale = new Set(push.stale);
  }

  /** Each entry against the value schema and the size cap; the push with parsed values. */
  private checkEntries(push: SubtreePush<unknown>): SubtreePush<V> {
    const entries: SubtreePush<V>['entries'] = {};
    for (const [name, e] of Object.entries(push.entries)) {
      const bytes = Buffer.byteLength(JSON.stringify(e.value) ?? '');
      if (bytes > this.maxEntryBytes) throw new PushRefused('entry_too_large', `node ${push.node} pushed ${bytes} bytes of figures for "${name}", over the ${this.maxEntryBytes} allowed per node; refused whole`);
      const value = this.value.safeParse(e.value);
      if (!value.success) {
        const issue = value.error.issues[0];
        throw new PushRefused('invalid_entry', `node ${push.node} pushed figures for "${name}" that are not of the documented shape (${issue?.path.join('.') || 'value'}: ${issue?.message ?? 'invalid'}); refused whole`);
      }
      entries[name] = { parent: e.parent, value: value.data };
    }
    return { ...push, entries };
  }

  /**
   * Figures carried on a disk from a site without a link (`sluice report --export`), taken
   * by an admin: kept beside the pushes, as if `push.node` had pushed them at `at`, so a
   * newer network push about the same nodes wins. Only nodes below this one, and only
   * `push.node`'s own subtree, may be named.
   */
  adopt(push: SubtreePush<V>, at: number): void {
    const below = new Set(subtreeOf(this.topology, this.self.name).map((n) => n.name));
    if (!below.has(push.node)) throw new SluiceError('BAD_REQUEST', `figures of node "${push.node}", which is not below ${this.self.name}; import them at one of its upstream nodes`);
    const allowed = new Set([push.node, ...subtreeOf(this.topology, push.node).map((n) => n.name)]);
    for (const name of Object.keys(push.entries)) if (!allowed.has(name)) throw new PushRefused('outside_subtree', `the figures of node ${push.node} name "${name}", which is not in its subtree; refused whole`);
    const entries = new Map(Object.entries(push.entries).map(([name, e]) => [name, { parent: e.parent ?? this.self.name, value: e.value }]));
    const key = `imported:${push.node}`;
    const prev = this.children.get(key);
    if (prev && prev.receivedAt > at) return;
    this.children.set(key, { epoch: 'imported', seq: 0, receivedAt: at, stale: new Set(), entries });
  }

  /**
   * Every node below, once: when two children name the same node (it moved to a fallback
   * upstream), the one heard from last wins.
   */
  entries(now = Date.now()): MirrorEntry<V>[] {
    const out = new Map<string, MirrorEntry<V>>();
    for (const [key, state] of this.children) {
      // Carried figures are as old as they are: never "stale" for want of pushes.
      const quiet = !key.startsWith('imported:') && now - state.receivedAt > this.staleMs;
      for (const [name, e] of state.entries) {
        const prev = out.get(name);
        if (prev && prev.receivedAt >= state.receivedAt) continue;
        out.set(name, { name, parent: e.parent, value: e.value, receivedAt: state.receivedAt, stale: quiet || state.stale.has(name) });
      }
    }
    return [...out.values()];
  }
}
