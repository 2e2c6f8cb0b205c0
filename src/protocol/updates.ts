import type { Severity } from '../domain/severity.js';

/**
 * One entry of `GET /v1/updates`: an approved package for the endpoint's ring, platform and
 * language, `available` with a URL per file once this node holds every file, else `pending`
 * without URLs. Agents check all of it against their own verified catalog.
 */
export interface UpdateEntry {
  id: string;
  name: string;
  version: string;
  severity: Severity;
  classification?: string | null;
  approvedAt: string;
  deadline?: string;
  state: 'available' | 'pending';
  files: { name: string; size: number; sha256: string; platform?: string; language?: string; url: string | null }[];
}

/** The whole answer of `GET /v1/updates`. */
export interface UpdatesAnswer {
  node: string;
  catalogSeq: number;
  updates: UpdateEntry[];
}
