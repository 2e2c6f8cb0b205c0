import path from 'node:path';
import { z } from 'zod';

/**
 * The layout of an export directory, which any copy tool can move:
 *
 *   sluice-export.json      the manifest (this schema)
 *   catalog.json            signed catalog records after `fromSeq` up to the head, with the
 *                           head and timestamp: the body of GET /v1/catalog, as one page
 *   blobs/ab/SHA256         each blob, or SHA256.000, .001, ... when split (`--split`)
 *
 * Nothing in it is trusted on import: the catalog is verified like a network page, every
 * blob is hashed, and only blobs the verified catalog names are taken.
 */
export const MANIFEST_FILE = 'sluice-export.json';
export const CATALOG_FILE = 'catalog.json';
export const EXPORT_FORMAT = 1;

export const manifestSchema = z
  .object({
    format: z.literal(EXPORT_FORMAT),
    createdAt: z.string(),
    /** The node (and its subtree) the export is for. */
    node: z.string(),
    /** Records after this position are included (0: the whole catalog). */
    fromSeq: z.number().int().nonnegative(),
    /** The signed head's position. */
    toSeq: z.number().int().nonnegative(),
    blobs: z.array(
      z
        .object({
          sha256: z.string().regex(/^[0-9a-f]{64}$/),
          size: z.number().int().nonnegative(),
          /** Parts in order, relative to the export directory (one unless split). */
          parts: z.array(z.string().regex(/^blobs\/[0-9a-f]{2}\/[0-9a-f]{64}(\.\d{3})?$/)).min(1),
        })
        .strict(),
    ),
  })
  .strict();

export type ExportManifest = z.infer<typeof manifestSchema>;

/** Relative paths of a blob's parts: one file, or `.000`, `.001`, ... of at most `split` bytes. */
export function blobParts(sha256: string, size: number, split: number | undefined): string[] {
  const base = `blobs/${sha256.slice(0, 2)}/${sha256}`;
  if (!split || size <= split) return [base];
  return Array.from({ length: Math.ceil(size / split) }, (_, i) => `${base}.${String(i).padStart(3, '0')}`);
}

export const inExport = (dir: string, rel: string) => path.join(dir, ...rel.split('/'));
