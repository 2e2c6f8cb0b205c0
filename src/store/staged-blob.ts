/** Bytes hashed and held aside, not visible until a commit (blob-store.ts). */
export interface StageLimits {
  /** Abort with PAYLOAD_TOO_LARGE beyond this many bytes. */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
}

export interface StagedBlob {
  /** The staging file; empty for a blob staged in memory (`data`). */
  readonly tmpPath: string;
  readonly sha256: string;
  readonly size: number;
  /** Written but not fsynced yet: commit fsyncs it (with the rest of its round) before the rename. */
  readonly unsynced?: boolean;
  /** A small blob's verified bytes, committed into a pack file rather than a file of its own. */
  readonly data?: Buffer;
}
