import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Level } from 'level';
import { toSluiceError } from '../errors.js';

/**
 * The node's LevelDB. Opening it also takes LevelDB's LOCK file, which makes it the
 * data-directory lock: a second process on the same directory fails here, before it
 * touches any file.
 */
export type MetaDb = Level<string, unknown>;
export type Sublevel = ReturnType<typeof makeSublevel>;
const makeSublevel = (db: MetaDb, name: string) => db.sublevel<string, unknown>(name, { valueEncoding: 'json' });

export async function openMetaDb(dataDir: string): Promise<MetaDb> {
  try {
    mkdirSync(dataDir, { recursive: true });
  } catch (err) {
    throw toSluiceError(err, `cannot create data directory ${dataDir}`);
  }
  const db = new Level<string, unknown>(path.join(dataDir, 'meta'), { valueEncoding: 'json' });
  try {
    await db.open();
  } catch (err) {
    throw toSluiceError(err, `cannot open ${path.join(dataDir, 'meta')}`);
  }
  return db;
}

/** The sublevels every node uses; one place so their names never drift. */
export function sublevels(db: MetaDb) {
  return {
    blobs: makeSublevel(db, 'blobs'),
    records: makeSublevel(db, 'records'),
    state: makeSublevel(db, 'state'),
    reports: makeSublevel(db, 'reports'),
    /** Every endpoint that ever reported here (its id → the time first seen): distinct clients, counted without holding them in memory. */
    reportClients: makeSublevel(db, 'report-clients'),
    /** Per ring, every endpoint that reported for it here (`RING NUL CLIENT` → the time first seen): the ring's distinct clients. */
    reportRingClients: makeSublevel(db, 'report-ring-clients'),
    /** Per vendor feed and suite: the signed Date last accepted (no rollback), and the last sync's outcome. */
    feeds: makeSublevel(db, 'feeds'),
    /** Named tokens (their hashes, roles and scopes): auth/named-tokens.ts. */
    tokens: makeSublevel(db, 'tokens'),
    /** Who did what: audit/audit-log.ts. */
    audit: makeSublevel(db, 'audit'),
  };
}

export interface BlobMeta {
  readonly size: number;
  /** When the blob became visible here (ms since epoch). */
  readonly storedAt: number;
  /** A small blob replicated here lives in a pack file at this place; others are files of their own. */
  readonly pack?: number;
  readonly offset?: number;
}

/** A LevelDB write that commits together with blobs (e.g. the catalog record naming them). */
export interface BatchPut {
  readonly sublevel: Sublevel;
  readonly key: string;
  readonly value: unknown;
}

export type BatchOp = (BatchPut & { readonly type: 'put' }) | { readonly type: 'del'; readonly sublevel: Sublevel; readonly key: string };

/**
 * Every durable write goes through here: one atomic batch on the root database, fsynced
 * (`sync: true`) before it resolves, so a crash never loses an acknowledged change.
 */
export async function syncBatch(db: MetaDb, ops: readonly BatchOp[]): Promise<void> {
  if (ops.length === 0) return;
  await db.batch(ops as never, { sync: true } as never);
}
