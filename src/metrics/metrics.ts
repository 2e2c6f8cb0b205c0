import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * Every metric a node exposes, declared in one place on the node's own Registry (several
 * nodes can share a process in `sluice up`, so the global registry is never used).
 * Labels take values from fixed sets or topology node names only.
 */
export function createMetrics(nodeName: string, version: string) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'sluice_' });
  const m = {
    registry,
    buildInfo: new Gauge({ name: 'sluice_build_info', help: 'Sluice version and node name; always 1', labelNames: ['version', 'node'], registers: [registry] }),
    transferBytes: new Counter({ name: 'sluice_transfer_bytes_total', help: 'Blob bytes moved, by direction and peer node ("endpoint" for non-nodes)', labelNames: ['direction', 'peer'], registers: [registry] }),
    catalogSeq: new Gauge({ name: 'sluice_catalog_seq', help: 'Sequence number of the newest verified catalog record held here', registers: [registry] }),
    catalogHeadExpiry: new Gauge({ name: 'sluice_catalog_head_expiry_timestamp_seconds', help: 'When the signed catalog head held here expires (Unix time)', registers: [registry] }),
    storeBytes: new Gauge({ name: 'sluice_store_bytes', help: 'Bytes of verified blobs stored on this node', registers: [registry] }),
    storeBlobs: new Gauge({ name: 'sluice_store_blobs', help: 'Verified blobs stored on this node', registers: [registry] }),
    httpErrors: new Counter({ name: 'sluice_http_errors_total', help: 'HTTP error responses by error code', labelNames: ['code'], registers: [registry] }),
  };
  m.buildInfo.set({ version, node: nodeName }, 1);
  const samplers: (() => void)[] = [];
  return {
    ...m,
    /** Registers a function that refreshes gauges from live state just before each scrape. */
    onScrape(fn: () => void): void {
      samplers.push(fn);
    },
    /** The exposition text, with gauges sampled now rather than on every hot-path event. */
    async scrape(): Promise<string> {
      for (const fn of samplers) fn();
      return registry.metrics();
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
