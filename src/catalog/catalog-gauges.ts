import type { Metrics } from '../metrics/metrics.js';
import type { CatalogLog } from './catalog-log.js';

/** The catalog's gauges, sampled at each scrape: position, head expiry, timestamp age, root version. */
export function sampleCatalogGauges(metrics: Metrics, catalog: CatalogLog): void {
  metrics.catalogSeq.set(catalog.seq);
  const head = catalog.head;
  if (head) metrics.catalogHeadExpiry.set(Date.parse(head.expires) / 1000);
  const ts = catalog.timestamp;
  if (ts) metrics.catalogTimestampAge.set(Math.max(0, (Date.now() - Date.parse(ts.issued)) / 1000));
  metrics.rootVersion.set(catalog.root.version);
}
