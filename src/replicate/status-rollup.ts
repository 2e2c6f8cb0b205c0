import { request } from 'undici';
import { z } from 'zod';
import { NODE_HEADER } from '../protocol/headers.js';
import type { Logger } from '../log/logger.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { subtreeOf } from '../topology/tree.js';
import { ChildPushes } from './child-pushes.js';
import type { PeerSelector } from './peers.js';

export const statusPushSchema = z.object({ node: z.string(), status: z.record(z.unknown()) });

/**
 * The latest status each direct child pushed (each carries its own subtree), so that any
 * node, and the primary above all, can show the whole tree below it.
 */
export class ChildStatuses {
  private readonly pushes: ChildPushes<z.infer<typeof statusPushSchema>>;

  constructor(
    private readonly topology: Topology,
    private readonly self: NodeSpec,
    private readonly staleMs: number,
  ) {
    this.pushes = new ChildPushes(topology, self, statusPushSchema, '{ "node": NAME, "status": {...} }');
  }

  accept(body: unknown): void {
    this.pushes.accept(body);
  }

  /** Children of this node in the topology, each with its last status or `null`. */
  snapshot(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const expected = new Set(subtreeOf(this.topology, this.self.name).filter((n) => n.upstream === this.self.name).map((n) => n.name));
    for (const [name] of this.pushes.entries()) expected.add(name);
    for (const name of expected) {
      const entry = this.pushes.get(name);
      out[name] = entry ? { ...entry.value.status, receivedAt: new Date(entry.receivedAt).toISOString(), stale: Date.now() - entry.receivedAt > this.staleMs } : null;
    }
    return out;
  }
}

/** Pushes a payload (this node's status, its report rollup) to its current upstream every `everyMs`. */
export class StatusPusher {
  private timer: NodeJS.Timeout | undefined;
  private failing = false;

  constructor(
    private readonly self: NodeSpec,
    private readonly peers: PeerSelector,
    private readonly peerToken: string | undefined,
    private readonly payload: () => Record<string, unknown>,
    private readonly everyMs: number,
    private readonly log: Logger,
    private readonly route = '/v1/status',
  ) {}

  start(): void {
    if (!this.peerToken) {
      this.log.warn(`SLUICE_PEER_TOKEN is not set: this node will not push ${this.route} upstream`);
      return;
    }
    const tick = async () => {
      await this.pushOnce();
      if (this.timer !== undefined) this.timer = setTimeout(() => void tick(), this.everyMs).unref();
    };
    this.timer = setTimeout(() => void tick(), 0).unref();
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  async pushOnce(): Promise<void> {
    const peer = this.peers.current();
    try {
      const res = await request(`${peer.url}${this.route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${this.peerToken}`, [NODE_HEADER]: this.self.name },
        body: JSON.stringify({ node: this.self.name, ...this.payload() }),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      const text = await res.body.text();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} ${text.slice(0, 200)}`);
      if (this.failing) this.log.info({ peer: peer.name, route: this.route }, 'pushes reach the upstream again');
      this.failing = false;
    } catch (err) {
      if (!this.failing) this.log.warn({ peer: peer.name, route: this.route, err: (err as Error).message }, 'cannot push to the upstream');
      this.failing = true;
    }
  }
}
