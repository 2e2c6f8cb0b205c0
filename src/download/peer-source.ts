import type { SluiceError } from '../errors.js';
import type { PeerClient } from '../protocol/peer-client.js';
import { UNLIMITED_BUDGET } from '../schedule/rate-budget.js';
import type { BlobLeases } from '../site/blob-leases.js';
import type { DownloadTarget } from '../store/download.js';
import { fetchBlob } from './fetch-blob.js';
import { fetchSmallBlob } from './fetch-small-blob.js';
import type { PeerSelector } from './peers.js';
import type { Attempt, BatchFetcher, FetchOutcome, Route, Source, Want } from './want.js';

/**
 * Another node as the source of blobs: the upstream, or a fallback after failures
 * (peers.ts), with the site's siblings sharing the WAN (one fetches each large blob under a
 * lease, the others copy from it over the LAN), small blobs many per request. A 404 from a
 * node means "not yet": it holds the blob soon, or relays it as it arrives.
 */
export class PeerSource implements Source {
  readonly notFoundIsTransient = true;

  constructor(
    private readonly options: {
      /** This node's name, sent to peers so they can attribute traffic. */
      readonly selfName: string;
      readonly peers: PeerSelector;
      readonly client: PeerClient;
      readonly batches: BatchFetcher;
      /** Sibling nodes of this node's site: the leases that let one of them fetch each blob, and where a sibling is reached. */
      readonly site?: { readonly leases: BlobLeases; siblingUrl(name: string): string };
    },
  ) {}

  get batches(): BatchFetcher {
    return this.options.batches;
  }

  async route(want: Want, o: { readonly shared: boolean; readonly avoid?: string }): Promise<Route> {
    const peer = this.options.peers.current();
    // Read at each attempt: a renewed certificate replaces the pool (peer-client.ts).
    const dispatcher = this.options.client.dispatcher;
    const upstream: Route = { name: peer.name, node: peer.url, dispatcher };
    if (!o.shared || !this.options.site) return upstream;
    const plan = await this.options.site.leases.plan(want.sha256, o.avoid);
    if (plan.kind === 'lease') return { ...upstream, lease: plan.lease };
    // The LAN: the site's WAN budget does not apply.
    if (plan.kind === 'sibling') return { name: plan.node, node: this.options.site.siblingUrl(plan.node), sibling: true, budget: UNLIMITED_BUDGET, dispatcher };
    return upstream;
  }

  fetch(route: Route, download: DownloadTarget, a: Attempt): Promise<FetchOutcome> {
    return fetchBlob({ partial: download, route, selfName: this.options.selfName, dispatcher: route.dispatcher, budget: a.budget, signal: a.signal, ...a.tuning, deferSync: a.deferSync, onResume: a.onResume, onProgress: a.onProgress, onBytes: a.onBytes });
  }

  fetchWhole(route: Route, want: Want, a: Pick<Attempt, 'budget' | 'signal' | 'tuning' | 'onBytes'>): Promise<Buffer> {
    return fetchSmallBlob({ sha256: want.sha256, size: want.size, route, selfName: this.options.selfName, dispatcher: route.dispatcher, budget: a.budget, signal: a.signal, stallMs: a.tuning.stallMs, onBytes: a.onBytes });
  }

  succeeded(route: Route): void {
    this.options.peers.succeeded({ name: route.name, url: route.node! });
  }

  failed(route: Route, e: SluiceError): boolean {
    this.options.peers.failed({ name: route.name, url: route.node! }, e.code);
    return this.options.peers.current().name !== route.name;
  }
}
