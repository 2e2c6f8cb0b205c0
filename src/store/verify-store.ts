import type { BlobStore } from './blob-store.js';

export interface VerifyReport {
  readonly checked: number;
  readonly bytes: number;
  /** Blobs whose bytes no longer hash to their name, or whose size changed; moved to quarantine/. */
  readonly quarantined: string[];
  /** Blobs whose file is gone; forgotten (a downstream node fetches them again). */
  readonly missing: string[];
  /**
   * Blobs that could not be read this time (EMFILE, EIO, ...): kept and served as before,
   * since a transient error proves nothing about the bytes. Run verify again.
   */
  readonly unreadable: { sha256: string; error: string }[];
}

/**
 * Re-hashes every stored blob. Only evidence condemns a blob: bytes that hash to something
 * else, or a size that no longer matches. A read that fails for another reason leaves it.
 */
export async function verifyStore(store: BlobStore, signal?: AbortSignal): Promise<VerifyReport> {
  const quarantined: string[] = [];
  const missing: string[] = [];
  const unreadable: VerifyReport['unreadable'] = [];
  let checked = 0;
  let bytes = 0;
  for (const [sha, size] of [...store.list()]) {
    signal?.throwIfAborted();
    let actual: { sha256: string; size: number };
    try {
      actual = await store.digest(sha);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        await store.forgetMissing(sha);
        missing.push(sha);
      } else {
        unreadable.push({ sha256: sha, error: code ?? (err as Error).message });
      }
      continue;
    }
    checked++;
    bytes += size;
    if (actual.sha256 !== sha || actual.size !== size) {
      await store.quarantine(sha);
      quarantined.push(sha);
    }
  }
  return { checked, bytes, quarantined, missing, unreadable };
}
