import { request } from 'undici';
import { readyzUrl } from '../protocol/paths.js';
import type { PeerClient } from '../protocol/peer-client.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { NodeSpec, Topology } from '../topology/types.js';

export interface Peer {
  readonly name: string;
  readonly url: string;
}

/**
 * Which node to pull from: the upstream, or after `failureThreshold` consecutive failures
 * the next node of the `fallback` list (cycling back to the upstream after the last). While
 * on a fallback, the upstream is probed every `probeMs` and taken back once it answers
 * /readyz. State changes are logged once ("offline", "online"), not every attempt.
 */
export class PeerSelector {
  private readonly peers: Peer[];
  private index = 0;
  private failures = 0;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;

  constructor(
    topology: Topology,
    node: NodeSpec,
    private readonly failureThreshold: number,
    private readonly probeMs: number,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly client: PeerClient,
  ) {
    this.peers = [node.upstream!, ...node.fallback].map((name) => ({ name, url: topology.nodes.get(name)!.url }));
    for (const p of this.peers) metrics.upstreamUp.set({ peer: p.name }, 1);
  }

  current(): Peer {
    return this.peers[this.index]!;
  }

  get preferred(): Peer {
    return this.peers[0]!;
  }

  get all(): readonly Peer[] {
    return this.peers;
  }

  succeeded(peer: Peer): void {
    if (peer.name === this.current().name) this.failures = 0;
  }

  failed(peer: Peer, reason: string): void {
    if (peer.name !== this.current().name) return;
    this.failures++;
    if (this.failures < this.failureThreshold || this.peers.length === 1) return;
    this.metrics.upstreamUp.set({ peer: peer.name }, 0);
    this.index = (this.index + 1) % this.peers.length;
    this.failures = 0;
    this.log.warn({ peer: peer.name, next: this.current().name, reason }, 'upstream offline; switching');
    this.scheduleProbe();
  }

  close(): void {
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
  }

  private scheduleProbe(): void {
    if (this.index === 0 || this.probeTimer) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      void this.probe();
    }, this.probeMs);
    this.probeTimer.unref();
  }

  private async probe(): Promise<void> {
    if (this.index === 0 || this.probing) return;
    this.probing = true;
    try {
      const res = await request(readyzUrl(this.preferred.url), { dispatcher: this.client.dispatcher, headersTimeout: 5000, bodyTimeout: 5000 });
      await res.body.dump();
      if (res.statusCode === 200) {
        this.log.info({ peer: this.preferred.name, from: this.current().name }, 'upstream online again; switching back');
        this.metrics.upstreamUp.set({ peer: this.preferred.name }, 1);
        this.index = 0;
        this.failures = 0;
        return;
      }
    } catch {
      // still down
    } finally {
      this.probing = false;
    }
    this.scheduleProbe();
  }
}
