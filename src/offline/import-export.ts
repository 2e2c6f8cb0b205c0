import { constants } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { FileEntry } from '../catalog/records.js';
import { CatalogRejected, verifyPage } from '../catalog/verify-page.js';
import { SluiceError } from '../errors.js';
import { formatDuration } from '../topology/units.js';
import { wantedBlobs } from '../replicate/wanted.js';
import type { StagedBlob } from '../store/blob-store.js';
import type { BlobStore } from '../store/blob-store.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { CATALOG_FILE, MANIFEST_FILE, inExport, manifestSchema, type ExportManifest } from './export-layout.js';

export interface ImportReport {
  node: string;
  /** `signedAt`: when the primary last vouched for the export's catalog (its timestamp); `ageSeconds` since then. */
  catalog: { before: number; after: number; records: number; signedAt: string | null; ageSeconds: number | null };
  blobs: { imported: number; bytes: number; alreadyHeld: number; notForThisNode: number };
}

export interface ImportDeps {
  readonly topology: Topology;
  readonly spec: NodeSpec;
  readonly catalog: CatalogLog;
  readonly store: BlobStore;
  readonly now?: () => number;
  /** Bytes hashed so far (a progress bar). */
  readonly onBytes?: (n: number) => void;
  /** Refuse an export whose catalog the primary vouched for longer ago than this (`--max-age`). */
  readonly maxAgeMs?: number;
}

/**
 * Takes an export (export-layout.ts) into a node, verified exactly as the network path is:
 * the catalog page through verifyPage (signature, expiry, chain from the node's own tip, no
 * rollback), every blob hashed while it is staged, and only blobs the signed catalog names
 * with that size. All of it is checked before anything becomes visible: a tampered export
 * is refused whole. Then the records are committed as a follower commits them, and the
 * blobs this node wants are committed to the store; the node carries on over the network
 * from there, fetching nothing it imported.
 */
export async function importExport(dir: string, d: ImportDeps): Promise<ImportReport> {
  const manifest = await readManifest(dir);
  const now = d.now ?? Date.now;
  const before = d.catalog.seq;
  if (manifest.fromSeq > before) {
    throw new SluiceError('IMPORT_GAP', `${dir} holds catalog records after seq ${manifest.fromSeq}, but node ${d.spec.name} holds only up to seq ${before}; export again with --since ${before} (or less)`);
  }
  const page = await readJson(inExport(dir, CATALOG_FILE), CATALOG_FILE);
  const records = Array.isArray((page as { records?: unknown }).records) ? ((page as { records: { seq?: unknown }[] }).records) : [];
  // Records this node already verified are skipped; the rest must link from its own tip.
  const fresh = { ...(page as object), records: records.filter((r) => typeof r?.seq !== 'number' || r.seq > before), more: false };
  let verified;
  try {
    // An export travels for days: it imports while its signed head is valid (headTtl), however
    // old its timestamp; the operator is told its age and may be stricter with --max-age.
    verified = verifyPage(fresh, { seq: before, hash: d.catalog.tipHash }, { seq: before, hash: d.catalog.tipHash }, d.catalog.root, now(), { timestampMayHaveExpired: true });
  } catch (err) {
    if (err instanceof CatalogRejected) throw new SluiceError(err.code, `${inExport(dir, CATALOG_FILE)}: ${err.reason === 'rollback' ? `this export is older than the catalog node ${d.spec.name} holds (${err.message}); nothing was imported` : `${err.message}; nothing was imported`}`, { cause: err });
    throw err;
  }

  const signedAt = verified.timestamp?.issued ?? null;
  const ageMs = signedAt ? Math.max(0, now() - Date.parse(signedAt)) : null;
  if (d.maxAgeMs !== undefined && ageMs !== null && ageMs > d.maxAgeMs) {
    throw new SluiceError('CATALOG_STALE', `${inExport(dir, CATALOG_FILE)}: the primary vouched for this export's catalog ${formatDuration(ageMs)} ago (${signedAt}), more than --max-age allows; export again, or import with a larger --max-age; nothing was imported`);
  }

  // Blobs are acceptable only as the signed catalog names them (the node's, or the page's).
  const named = new Map<string, number>();
  const name = (f: Pick<FileEntry, 'sha256' | 'size'>) => named.set(f.sha256, f.size);
  for (const pkg of d.catalog.state.all()) pkg.files.forEach(name);
  for (const r of verified.records) if (r.type === 'publish') r.files.forEach(name);

  const staged: StagedBlob[] = [];
  let alreadyHeld = 0;
  try {
    for (const b of manifest.blobs) {
      if (d.store.has(b.sha256)) {
        alreadyHeld++;
        continue;
      }
      const size = named.get(b.sha256);
      if (size === undefined) throw new SluiceError('IMPORT_TAMPERED', `${inExport(dir, b.parts[0]!)}: blob ${b.sha256} is not named by the signed catalog; nothing was imported`);
      if (size !== b.size) throw new SluiceError('IMPORT_TAMPERED', `${MANIFEST_FILE}: blob ${b.sha256} is listed with ${b.size} bytes, the signed catalog says ${size}; nothing was imported`);
      const s = await d.store.stage(readParts(dir, b.parts, d.onBytes), { maxBytes: size }).catch((err: unknown) => {
        throw err instanceof SluiceError && err.code === 'PAYLOAD_TOO_LARGE' ? new SluiceError('IMPORT_TAMPERED', `${inExport(dir, b.parts[0]!)}: blob ${b.sha256} has more than the ${size} bytes the signed catalog lists; nothing was imported`) : err;
      });
      staged.push(s);
      if (s.sha256 !== b.sha256 || s.size !== size) {
        throw new SluiceError('IMPORT_TAMPERED', `${inExport(dir, b.parts[0]!)}: its bytes (${s.size}) do not hash to ${b.sha256} as the signed catalog lists; the file was altered or damaged; nothing was imported`);
      }
    }
  } catch (err) {
    for (const s of staged) await d.store.discard(s);
    throw err;
  }

  // Everything verified: the records first (as a follower commits a page), then the blobs.
  if (verified.records.length || verified.head.seq > before || verified.complete) {
    await d.catalog.stageRecords(verified.records, verified.root);
    await d.catalog.commitHead(verified.head, verified.timestamp, verified.root);
  }
  const wanted = wantedBlobs(d.topology, d.spec, d.catalog.state);
  const keep = staged.filter((s) => wanted.has(s.sha256));
  for (const s of staged) if (!wanted.has(s.sha256)) await d.store.discard(s);
  if (keep.length) await d.store.commit(keep);
  return {
    node: d.spec.name,
    catalog: { before, after: d.catalog.seq, records: d.catalog.seq - before, signedAt, ageSeconds: ageMs === null ? null : Math.round(ageMs / 1000) },
    blobs: { imported: keep.length, bytes: keep.reduce((n, s) => n + s.size, 0), alreadyHeld, notForThisNode: staged.length - keep.length },
  };
}

async function readManifest(dir: string): Promise<ExportManifest> {
  const raw = await readJson(inExport(dir, MANIFEST_FILE), MANIFEST_FILE);
  const parsed = manifestSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new SluiceError('IMPORT_INVALID', `${inExport(dir, MANIFEST_FILE)}: ${issue?.path.join('.') || 'manifest'}: ${issue?.message ?? 'invalid'}; is this a directory written by "sluice export"?`);
  }
  return parsed.data;
}

/**
 * Opens a file of the export for reading, only as what an export holds: a regular file
 * inside the export directory, reached without following a link. A disk that travelled is
 * untrusted: a FIFO would hang the import, and a link could make it read (and name the hash
 * of) any file the node's user can read.
 */
async function openInExport(dir: string, file: string): Promise<FileHandle> {
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') throw new SluiceError('IMPORT_INVALID', `${file}: a symbolic link; an export holds regular files only (copy the export with its files, not links); nothing was imported`);
    throw err;
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SluiceError('IMPORT_INVALID', `${file}: not a regular file; an export holds regular files only; nothing was imported`);
    const [root, parent] = await Promise.all([realpath(dir), realpath(path.dirname(file))]);
    if (parent !== root && !parent.startsWith(root + path.sep)) throw new SluiceError('IMPORT_INVALID', `${file}: lies outside ${dir} through a linked directory; nothing was imported`);
    return fh;
  } catch (err) {
    await fh.close();
    throw err;
  }
}

async function readJson(file: string, what: string, dir = path.dirname(file)): Promise<unknown> {
  let text: string;
  try {
    const fh = await openInExport(dir, file);
    try {
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (err instanceof SluiceError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new SluiceError('IMPORT_INVALID', `${file}: ${code === 'ENOENT' ? `no ${what} here; give the directory "sluice export --out" wrote (an interrupted export has no manifest: run it again)` : `cannot read (${code ?? (err as Error).message})`}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new SluiceError('IMPORT_INVALID', `${file}: not valid JSON (truncated or altered?); nothing was imported`);
  }
}

/** A blob's parts, in order, as one stream. */
async function* readParts(dir: string, parts: readonly string[], onBytes?: (n: number) => void): AsyncIterable<Uint8Array> {
  for (const part of parts) {
    const file = inExport(dir, part);
    try {
      const fh = await openInExport(dir, file);
      for await (const chunk of fh.createReadStream({ highWaterMark: 1024 * 1024 })) {
        onBytes?.((chunk as Buffer).length);
        yield chunk as Buffer;
      }
    } catch (err) {
      if (err instanceof SluiceError) throw err;
      const code = (err as NodeJS.ErrnoException).code;
      throw new SluiceError('IMPORT_INVALID', `${file}: ${code === 'ENOENT' ? 'missing (an incomplete copy of the export?)' : `cannot read (${code ?? (err as Error).message})`}; nothing was imported`);
    }
  }
}
