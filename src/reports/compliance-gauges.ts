import type { CatalogState } from '../catalog/catalog-state.js';
import type { Metrics } from '../metrics/metrics.js';
import type { Topology } from '../topology/types.js';
import { complianceBySeverity, complianceRows } from './compliance.js';
import type { SiteSummary } from './report-store.js';

/**
 * Compliant installs over endpoints per severity in this node's subtree, counting each
 * package only at the sites in its rings; NaN where no such site has endpoints.
 */
export function sampleComplianceGauges(metrics: Metrics, state: CatalogState, topology: Topology, subtree: Record<string, SiteSummary>): void {
  const ratios = complianceBySeverity(complianceRows(state, topology, subtree));
  for (const [severity, ratio] of Object.entries(ratios)) metrics.compliance.set({ severity }, ratio ?? NaN);
}
