import { SEVERITIES } from '../domain/severity.js';
import type { WantedBlob } from './wanted.js';

/** The order wanted blobs are fetched in, higher first: severity dominates, then earlier approval. */
export function priorityOf(blob: WantedBlob): number {
  return (SEVERITIES.length - SEVERITIES.indexOf(blob.severity)) * 1e13 + (1e13 - blob.approvedAtMs);
}
