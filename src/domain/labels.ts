/**
 * Fixed label sets of Sluice's metrics, each the closed list of reasons or states some
 * part of Sluice reports. Here, in the leaf of the code, so that metrics and the parts that
 * produce the values import the same list and nothing else from each other.
 */

/** Why a node refused what its upstream sent (sluice_catalog_rejected_total). */
export const REJECT_REASONS = ['malformed', 'signature', 'expired', 'rollback', 'chain', 'root', 'stale', 'unverified'] as const;
export type RejectReason = (typeof REJECT_REASONS)[number];

/** States of a transfer (sluice_transfer_queue); `paused`: held by a closed schedule window. */
export const TRANSFER_STATES = ['queued', 'active', 'paused', 'verifying', 'waiting'] as const;
export type TransferState = (typeof TRANSFER_STATES)[number];

/** Why a TLS connection was refused or failed (sluice_tls_handshake_failures_total). */
export const TLS_FAILURE_REASONS = ['unknown_ca', 'expired', 'name_mismatch', 'plain_http', 'bad_certificate', 'revoked', 'other'] as const;
export type TlsFailureReason = (typeof TLS_FAILURE_REASONS)[number];

/**
 * Why an upstream refuses a status, report or audit push (sluice_pushes_refused_total): the
 * sender does not pull from it, speaks for another node, names sites outside its own subtree,
 * sends an entry of the wrong shape or over the size allowed per node, or (audit entries)
 * proves no node name, having only the tree-wide token.
 */
export const PUSH_REFUSALS = ['not_downstream', 'wrong_node', 'outside_subtree', 'invalid_entry', 'entry_too_large', 'unproven_node'] as const;
export type PushRefusal = (typeof PUSH_REFUSALS)[number];
