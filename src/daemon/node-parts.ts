import type { Secrets } from '../auth/secrets.js';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { ReplicationTuning } from '../replicate/tuning.js';
import type { BlobStore } from '../store/blob-store.js';
import type { MetaDb } from '../store/meta-db.js';
import type { NodeSpec, Topology } from '../topology/types.js';

/** What every role of a node is built from: the node's own parts, opened by the daemon. */
export interface NodeParts {
  readonly topology: Topology;
  readonly spec: NodeSpec;
  readonly secrets: Secrets;
  readonly catalog: CatalogLog;
  readonly store: BlobStore;
  readonly db: MetaDb;
  readonly metrics: Metrics;
  readonly log: Logger;
  readonly tuning: ReplicationTuning;
}
