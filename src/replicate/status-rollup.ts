import { request } from 'undici';
import { z } from 'zod';
import { NODE_HEADER } from '../protocol/headers.js';
import type { PeerClient } from '../protocol/peer-client.js';
import type { ChildStatus, NodeStatus } from '../protocol/status.js';
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
    this.pushes = new ChildPushes(topology, self, statusPushSchema, '{ "node": NAME, "status": {...} }', (push) => nestedNodes(push.status));
  }

  accept(body: unknown, caller: string | undefined): void {
    this.pushes.accept(body, caller);
  }

  /** Children of this node in the topology, each with its last status or `null`. */
  snapshot(): Record<string, ChildStatus | null> {
    const out: Record<string, ChildStatus | null> = {};
    const expected = new Set(subtreeOf(this.topology, this.self.name).filter((n) => n.upstream === this.self.name).map((n) => n.name));
    for (const [name] of this.pushes.entries()) expected.add(name);
    for (const name of expected) {
      const entry = this.pushes.get(name);
      // A push passed the schema of its envelope; its status is the child's own NodeStatus.
      out[name] = entry ? { ...(entry.value.status as unknown as NodeStatus), receivedAt: new Date(entry.receivedAt).toISOString(), stale: Date.now() - entry.receivedAt > this.staleMs } : null;
    }
    return out;
  }
}

/** Names of the nodes nested under a status's `children`, at any depth. */
function* nestedNodes(status: Record<string, unknown>): Generator<string> {
  const children = status.children;
  if (!children || typeof children !== 'object') return;
  for (const [name, child] of Object.entries(children as Record<string, unknown>)) {
    yield name;
    if (child && typeof child === 'object') yield* nestedNodes(child as Record<string, unknown>);
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
    private readonly route: string,
    private readonly client: PeerClient,
  ) {}

  start(): void {
    // Over HTTPS the node's certificate proves who it is; a token is for plain HTTP.
    if (!this.peerToken && !this.peers.current().url.startsWith('https:')) {
      this.log.warn(`SLUICE_PEER_TOKEN is not set and the upstream is plain HTTP: this node will not push ${this.route} upstream`);
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
        dispatcher: this.client.dispatcher,
        headers: { 'content-type': 'application/json', ...(this.peerToken ? { authorization: `Bearer ${this.peerToken}` } : {}), [NODE_HEADER]: this.self.name },
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
