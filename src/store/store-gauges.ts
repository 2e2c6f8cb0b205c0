import { statfsSync } from 'node:fs';
import type { Metrics } from '../metrics/metrics.js';
import type { BlobStore } from './blob-store.js';

/** The store's gauges, sampled at each scrape: blobs, bytes, and free space where they live. */
export function sampleStoreGauges(metrics: Metrics, store: BlobStore, dataDir: string): void {
  const { blobs, bytes } = store.stats();
  metrics.storeBlobs.set(blobs);
  metrics.storeBytes.set(bytes);
  // For the "disk nearly full" alert (statfs is cheap).
  try {
    const fs = statfsSync(dataDir);
    metrics.filesystemAvail.set(fs.bavail * fs.bsize);
    metrics.filesystemSize.set(fs.blocks * fs.bsize);
  } catch {
    // the directory vanished: the store errors will say so
  }
}
