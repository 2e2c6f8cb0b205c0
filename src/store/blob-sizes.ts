/** Blobs up to this size are served from memory (readSmall); larger ones stream from disk. */
export const HOT_BLOB_MAX = 64 * 1024;
/** Replicated blobs up to this size go into pack files (see pack-files.ts). */
export const PACKED_BLOB_MAX = 32 * 1024;

/** A blob that lives in a pack file rather than a file of its own (empty blobs stay files). */
export const packable = (size: number): boolean => size > 0 && size <= PACKED_BLOB_MAX;
