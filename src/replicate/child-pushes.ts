import type { z } from 'zod';
import { SluiceError } from '../errors.js';
import { PushRefused } from '../protocol/push.js';
import { pullsFrom, subtreeOf } from '../topology/tree.js';
import type { NodeSpec, Topology } from '../topology/types.js';



/**
 * The latest payload each downstream node pushed here (status, report rollups). Accepts a
 * push only from a node that pulls from this one, as upstream or fallback, speaking for
 * itself (the proven caller) and naming only sites of its own subtree: a stolen branch
 * credential cannot overwrite head office's figures or another branch's. A newer push
 * replaces the previous one.
 */
export class ChildPushes<T extends { node: string }> {
  private readonly latest = new Map<string, { value: T; receivedAt: number }>();

  constructor(
    private readonly topology: Topology,
    private readonly self: NodeSpec,
    private readonly schema: z.ZodType<T, z.ZodTypeDef, unknown>,
    /** The expected shape, for the 400 message. */
    private readonly shape: string,
    /** Every site a push names (its own, its subtree's), for the subtree rule. */
    private readonly sitesOf: (push: T) => Iterable<string>,
  ) {}

  /** `caller`: the proven node, or undefined for the legacy shared token (the body names it). */
  accept(body: unknown, caller: string | undefined): void {
    const parsed = this.schema.safeParse(body);
    if (!parsed.success) throw new SluiceError('BAD_REQUEST', `expected ${this.shape}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    const node = parsed.data.node;
    if (caller !== undefined && caller !== node) throw new PushRefused('wrong_node', `node ${caller} pushed figures as "${node}"; a node speaks only for itself`);
    if (!pullsFrom(this.topology, node, this.self.name)) {
      throw new PushRefused('not_downstream', `node "${node}" does not pull from ${this.self.name}; only its downstream nodes report here`);
    }
    const allowed = new Set([node, ...subtreeOf(this.topology, node).map((n) => n.name)]);
    for (const site of this.sitesOf(parsed.data)) {
      if (!allowed.has(site)) throw new PushRefused('outside_subtree', `node ${node} pushed figures for "${site}", which is not in its subtree; refused whole`);
    }
    this.latest.set(node, { value: parsed.data, receivedAt: Date.now() });
  }

  get(node: string): { value: T; receivedAt: number } | undefined {
    return this.latest.get(node);
  }

  entries(): IterableIterator<[string, { value: T; receivedAt: number }]> {
    return this.latest.entries();
  }
}
