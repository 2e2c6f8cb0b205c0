import { SEVERITIES, type Severity } from '../domain/severity.js';

/**
 * The order wanted blobs are fetched in, higher first: severity dominates, then earlier
 * approval. Planners give it to the downloader with each want.
 */
export function priorityOf(blob: { readonly severity: Severity; readonly approvedAtMs: number }): number {
  return (SEVERITIES.length - SEVERITIES.indexOf(blob.severity)) * 1e13 + (1e13 - blob.approvedAtMs);
}
