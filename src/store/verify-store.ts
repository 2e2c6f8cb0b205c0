import type { FsBlobStore } from './fs-blob-store.js';
import { hashFile } from './fs-blob-store.js';

export interface VerifyReport {
  readonly checked: number;
  readonly bytes: number;
  /** Blobs whose bytes no longer hash to their name; moved to quarantine/. */
  readonly quarantined: string[];
}

/** Re-hashes every stored blob; any that fails is quarantined (and so no longer served). */
export async function verifyStore(store: FsBlobStore): Promise<VerifyReport> {
  const quarantined: string[] = [];
  let checked = 0;
  let bytes = 0;
  for (const [sha, size] of [...store.list()]) {
    const actual = await hashFile(store.pathOf(sha)).catch(() => 'unreadable');
    checked++;
    bytes += size;
    if (actual !== sha) {
      await store.quarantine(sha);
      quarantined.push(sha);
    }
  }
  return { checked, bytes, quarantined };
}
