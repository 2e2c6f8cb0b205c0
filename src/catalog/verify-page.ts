import type { KeyObject } from 'node:crypto';
import { z } from 'zod';
import { SluiceError, type ErrorCode } from '../errors.js';
import { signedHeadSchema, verifyHeadSignature, type SignedHead } from './head.js';
import { hashRecord, recordSchema, type CatalogRecord } from './records.js';

/** Why a node refused what its upstream sent; the label of `sluice_catalog_rejected_total`. */
export const REJECT_REASONS = ['malformed', 'signature', 'expired', 'rollback', 'chain'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

const REASON_CODE: Record<RejectReason, ErrorCode> = {
  malformed: 'CATALOG_MALFORMED',
  signature: 'CATALOG_SIGNATURE_INVALID',
  expired: 'CATALOG_EXPIRED',
  rollback: 'CATALOG_ROLLBACK',
  chain: 'CATALOG_CHAIN_BROKEN',
};

export class CatalogRejected extends SluiceError {
  constructor(
    readonly reason: RejectReason,
    message: string,
  ) {
    super(REASON_CODE[reason], message);
  }
}

export const catalogPageSchema = z.object({ records: z.array(z.unknown()), head: signedHeadSchema, more: z.boolean() });

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
}

/**
 * Checks one page of an upstream's catalog feed against what this node already holds.
 * `verified` is the last signed position accepted; `tip` is where received records end (the
 * same, unless earlier pages of this sync are still waiting for the head). Anything that does
 * not verify is rejected whole. Relays cannot forge: records must link hash to hash from
 * `tip`, and the final hash must be the one the primary signed.
 */
export function verifyPage(body: unknown, verified: ChainTip, tip: ChainTip, publicKey: KeyObject, nowMs: number): VerifiedPage {
  const page = catalogPageSchema.safeParse(body);
  if (!page.success) throw new CatalogRejected('malformed', `the catalog response does not have the documented shape (${page.error.issues[0]?.message ?? 'invalid'})`);
  const { head } = page.data;
  if (!verifyHeadSignature(head, publicKey)) throw new CatalogRejected('signature', `the catalog head (seq ${head.seq}) is not signed by the pinned trust.catalogKey`);
  if (Date.parse(head.expires) <= nowMs) throw new CatalogRejected('expired', `the catalog head (seq ${head.seq}) expired at ${head.expires}; the primary has not re-signed it`);
  if (head.seq < verified.seq) throw new CatalogRejected('rollback', `the upstream offers catalog seq ${head.seq}, older than the verified seq ${verified.seq} held here`);
  if (head.seq === verified.seq && head.hash !== verified.hash) throw new CatalogRejected('chain', `the upstream's catalog at seq ${head.seq} differs from the one verified here (a fork)`);

  const records: CatalogRecord[] = [];
  let { seq, hash } = tip;
  for (const raw of page.data.records) {
    const parsed = recordSchema.safeParse(raw);
    if (!parsed.success) throw new CatalogRejected('malformed', `catalog record after seq ${seq} is malformed (${parsed.error.issues[0]?.message ?? 'invalid'})`);
    const r = parsed.data;
    if (r.seq !== seq + 1) throw new CatalogRejected('chain', `expected catalog record ${seq + 1}, got ${r.seq} (dropped or re-ordered records)`);
    if (r.prev !== hash || hashRecord(r) !== r.hash) throw new CatalogRejected('chain', `catalog record ${r.seq} does not link to the chain (altered or inserted)`);
    if (r.seq > head.seq) throw new CatalogRejected('chain', `catalog record ${r.seq} is beyond the signed head ${head.seq}`);
    records.push(r);
    seq = r.seq;
    hash = r.hash;
  }
  const complete = seq === head.seq;
  if (complete && hash !== head.hash) throw new CatalogRejected('chain', `the records end at a hash the signed head does not name (seq ${seq})`);
  if (!complete && (!page.data.more || records.length === 0)) {
    throw new CatalogRejected('chain', `the records stop at seq ${seq} but the signed head is at ${head.seq} (records withheld)`);
  }
  return { records, head, complete };
}
