import type { GateRule } from '../topology/types.js';

/*
 * What the primary's promotion gates show (promote/): verdicts and decisions as the API, the
 * console and the CLI read them. Here, beside the reports they are decided from, so that what
 * every node runs (http/, console/) can name them without knowing the primary's role.
 */

/** What a gate read for one package in its ring: the ring's endpoints' reports across the tree. */
export interface GateEvidence {
  /** Endpoints with a final outcome (succeeded, failed, cancelled, declined): the gate's "clients". */
  readonly clients: number;
  readonly succeeded: number;
  readonly failed: number;
  /** Still installing (pending): not evidence yet. */
  readonly pending: number;
  /** Per site, the same figures (what the decision can be reproduced from). */
  readonly sites: Readonly<Record<string, { readonly clients: number; readonly succeeded: number; readonly failed: number; readonly pending: number }>>;
  /** The most frequent failure message among the ring's failures, when any were reported. */
  readonly failure: string | null;
}

export type GateState = 'waiting' | 'held' | 'ready';

/** One package approved for a gated ring, and what its gate says now. */
export interface GateVerdict {
  readonly package: string;
  readonly severity: string;
  readonly from: string;
  readonly to: string;
  readonly mode: 'auto' | 'propose';
  /** `ready`: passes (auto: the primary approves it; propose: a person may); `held`: failures hold it; `waiting`: not yet. */
  readonly state: GateState;
  /** In words, for `sluice promotions`, `sluice plan` and the console. */
  readonly reason: string;
  /** When its approval for the ring was made. */
  readonly approvedAt: string;
  /** When the gate's time has passed (approval + after). */
  readonly earliestAt: string;
  /** The gate applied (a critical package's own when it has one). */
  readonly gate: GateRule;
  readonly evidence: GateEvidence;
}

/** A promotion the primary made, with what it was decided from. */
export interface PromotionDecision {
  /** The approve record it appended (catalog seq). */
  readonly seq: number;
  readonly at: string;
  readonly package: string;
  readonly from: string;
  readonly to: string;
  /** `rule:FROM→TO`: who the catalog names as the approver. */
  readonly by: string;
  /** The gate applied, and the reports it read: the decision can be checked against them. */
  readonly gate: GateRule;
  readonly evidence: GateEvidence;
}

/** Each pending and decided promotion, from ring to ring. */
export interface PromotionsView {
  /** Packages in a gated ring not yet given to the next, with their gate's verdict now. */
  readonly pending: readonly GateVerdict[];
  /** Promotions made, newest first, with the evidence each was decided on. */
  readonly decided: readonly PromotionDecision[];
}
