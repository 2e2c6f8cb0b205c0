import type { z } from 'zod';
import { SluiceError } from '../errors.js';
import { pullsFrom } from '../topology/tree.js';
import type { NodeSpec, Topology } from '../topology/types.js';

/**
 * The latest payload each downstream node pushed here (status, report rollups). Accepts a
 * push only from a node that pulls from this one, as upstream or fallback; a newer push
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
  ) {}

  accept(body: unknown): void {
    const parsed = this.schema.safeParse(body);
    if (!parsed.success) throw new SluiceError('BAD_REQUEST', `expected ${this.shape}: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
    if (!pullsFrom(this.topology, parsed.data.node, this.self.name)) {
      throw new SluiceError('FORBIDDEN', `node "${parsed.data.node}" does not pull from ${this.self.name}; only its downstream nodes report here`);
    }
    this.latest.set(parsed.data.node, { value: parsed.data, receivedAt: Date.now() });
  }

  get(node: string): { value: T; receivedAt: number } | undefined {
    return this.latest.get(node);
  }

  entries(): IterableIterator<[string, { value: T; receivedAt: number }]> {
    return this.latest.entries();
  }
}
