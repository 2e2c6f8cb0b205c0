import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import type { RejectReason } from '../domain/labels.js';
import { SluiceError, type ErrorCode } from '../errors.js';
import { headSignedBy, signedHeadSchema, timestampSchema, timestampSignedBy, type SignedHead, type SignedTimestamp } from './head.js';
import { implicitRoot, nextRoot, type TrustRoot } from './root.js';
import { hashRecord, recordSchema, type CatalogRecord } from './records.js';

export type { RejectReason };

const REASON_CODE: Record<RejectReason, ErrorCode> = {
  malformed: 'CATALOG_MALFORMED',
  signature: 'CATALOG_SIGNATURE_INVALID',
  expired: 'CATALOG_EXPIRED',
  rollback: 'CATALOG_ROLLBACK',
  chain: 'CATALOG_CHAIN_BROKEN',
  root: 'CATALOG_ROOT_INVALID',
  stale: 'CATALOG_STALE',
  unverified: 'CATALOG_UNVERIFIED',
};

export class CatalogRejected extends SluiceError {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(REASON_CODE[reason], message);
  }
}

export const catalogPageSchema = z.object({ records: z.array(z.unknown()), head: signedHeadSchema, timestamp: timestampSchema.optional(), more: z.boolean() });

/** Where the verified chain stands: the tip of what this node trusts, plus records received since. */
export interface ChainTip {
  readonly seq: number;
  readonly hash: string;
}

export interface VerifiedPage {
  readonly records: CatalogRecord[];
  readonly head: SignedHead;
  /** True when `records` reach the signed head: everything up to head.seq can be trusted. */
  readonly complete: boolean;
  /** The root in force after these records (a root record among them moves it on). */
  readonly root: TrustRoot;
  /** The verified timestamp over the head (complete pages). */
  readonly timestamp: SignedTimestamp | undefined;
}

/**
 * Checks one page of an upstream's catalog feed against what this node already holds.
 * `verified` is the last signed position accepted; `tip` is where received records end (the
 * same, unless earlier pages of this sync are still waiting for the head). Anything that does
 * not verify is rejected whole. Relays cannot forge: records must link hash to hash from
 * `tip`, and the final hash must be the one the primary signed.
 */
export interface VerifyOptions {
  /**
   * An operator's import of a carried export: the short-lived timestamp may have expired (a
   * courier takes days); it must still be signed and cover the head, and the head itself must
   * not have expired. The freeze defence stays for network sync, where a replay is the risk.
   */
  readonly timestampMayHaveExpired?: boolean;
  /**
   * The primary taking its own log back from a node (`sluice recover`): the head and the
   * timestamp may have expired while it was down; they must still be signed by the root in
   * force and cover the records. The primary signs a fresh head over them when it starts.
   */
  readonly signerRecovering?: boolean;
}

/** A record sent without the two fields the chain gives: its predecessor's hash and its own. */
function isCompact(r: unknown): r is Record<string, unknown> {
  return typeof r === 'object' && r !== null && !Array.isArray(r) && !('prev' in r) && !('hash' in r);
}

/** The full record: `prev` from the chain, `hash` computed over it (the head's signature checks the last). */
function expand(r: Record<string, unknown>, prev: string): unknown {
  const withPrev = { ...r, prev };
  try {
    return { ...withPrev, hash: hashRecord(withPrev as unknown as CatalogRecord) };
  } catch {
    return withPrev;
  }
}

/** A record as the compact page form carries it: without `prev` and `hash`. */
export function compactRecord(r: CatalogRecord): Omit<CatalogRecord, 'prev' | 'hash'> {
  const { prev: _prev, hash: _hash, ...rest } = r;
  return rest;
}

export function verifyPage(body: unknown, verified: ChainTip, tip: ChainTip, trust: TrustRoot | KeyObject, nowMs: number, options: VerifyOptions = {}): VerifiedPage {
  let root = 'catalogKeys' in trust ? trust : implicitRoot(trust);
  const page = catalogPageSchema.safeParse(body);
  if (!page.success) throw new CatalogRejected('malformed', `the catalog response does not have the documented shape (${page.error.issues[0]?.message ?? 'invalid'})`);
  const { head, timestamp } = page.data;
  // Without a root record in the page the root in force is known now: a forged head is
  // refused before anything else is looked at.
  const carriesRoot = page.data.records.some((r) => (r as { type?: unknown } | null)?.type === 'root');
  if (!carriesRoot && !page.data.more && !headSignedBy(head, root.catalogKeys)) throw new CatalogRejected('signature', `the catalog head (seq ${head.seq}) is not signed by a catalog key of the root in force (version ${root.version})`);
  if (!options.signerRecovering && Date.parse(head.expires) <= nowMs) throw new CatalogRejected('expired', `the catalog head (seq ${head.seq}) expired at ${head.expires}; the primary has not re-signed it`);
  if (head.seq < verified.seq) throw new CatalogRejected('rollback', `the upstream offers catalog seq ${head.seq}, older than the verified seq ${verified.seq} held here`);
  if (head.seq === verified.seq && head.hash !== verified.hash) throw new CatalogRejected('chain', `the upstream's catalog at seq ${head.seq} differs from the one verified here (a fork)`);

  const records: CatalogRecord[] = [];
  let { seq, hash } = tip;
  for (const sent of page.data.records) {
    // A compact record (no prev, no hash: GET /v1/catalog?compact=1) links to the chain by
    // construction; what it claims is checked where it matters, at the signed head's hash.
    const raw = isCompact(sent) ? expand(sent, hash) : sent;
    const parsed = recordSchema.safeParse(raw);
    if (!parsed.success) throw new CatalogRejected('malformed', `catalog record after seq ${seq} is malformed (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    const r = parsed.data;
    if (r.seq !== seq + 1) throw new CatalogRejected('chain', `expected catalog record ${seq + 1}, got ${r.seq} (dropped or re-ordered records)`);
    if (r.prev !== hash || hashRecord(r) !== r.hash) throw new CatalogRejected('chain', `catalog record ${r.seq} does not link to the chain (altered or inserted)`);
    if (r.seq > head.seq) throw new CatalogRejected('chain', `catalog record ${r.seq} is beyond the signed head ${head.seq}`);
    if (r.type === 'root') {
      try {
        root = nextRoot(root, r.root, nowMs);
      } catch (err) {
        throw new CatalogRejected('root', `catalog record ${r.seq}: ${(err as Error).message}`);
      }
    }
    records.push(r);
    seq = r.seq;
    hash = r.hash;
  }
  const complete = seq === head.seq;
  if (complete && hash !== head.hash) throw new CatalogRejected('chain', `the records end at a hash the signed head does not name (seq ${seq})`);
  if (!complete && (!page.data.more || records.length === 0)) {
    throw new CatalogRejected('chain', `the records stop at seq ${seq} but the signed head is at ${head.seq} (records withheld)`);
  }
  // The head (and its timestamp) are judged by the root in force at head.seq, which the
  // records before it may have changed: so only once the page reaches the head. Records of
  // an incomplete page are staged, never trusted, until a page that reaches it verifies.
  if (!complete) return { records, head, complete, root, timestamp: undefined };
  if (root.expires !== null && Date.parse(root.expires) <= nowMs) throw new CatalogRejected('root', `the root of trust in force (version ${root.version}) expired at ${root.expires}; the offline root keys must sign its successor`);
  if (!headSignedBy(head, root.catalogKeys)) throw new CatalogRejected('signature', `the catalog head (seq ${head.seq}) is not signed by a catalog key of the root in force (version ${root.version}); a revoked or foreign key`);
  if (!timestamp) throw new CatalogRejected('stale', `the upstream sent no timestamp with the catalog head (seq ${head.seq}); it cannot prove the catalog is current`);
  if (!timestampSignedBy(timestamp, root.catalogKeys)) throw new CatalogRejected('signature', `the catalog timestamp is not signed by a catalog key of the root in force (version ${root.version})`);
  if (timestamp.seq !== head.seq || timestamp.hash !== head.hash) throw new CatalogRejected('stale', `the upstream is replaying an old catalog: its timestamp covers seq ${timestamp.seq}, not the head it sent (seq ${head.seq})`);
  if (!options.timestampMayHaveExpired && !options.signerRecovering && Date.parse(timestamp.expires) <= nowMs) throw new CatalogRejected('stale', `the upstream is replaying an old catalog: its newest timestamp expired at ${timestamp.expires} (issued ${timestamp.issued})`);
  return { records, head, complete, root, timestamp };
}
