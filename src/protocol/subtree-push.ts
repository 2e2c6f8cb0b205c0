import { z } from 'zod';

/**
 * What a node pushes to its upstream about its whole subtree (statuses, report figures):
 * one entry per node, sent only when it changed since the last push the upstream
 * acknowledged. Cost at the upstream follows what changes, not how many nodes lie below.
 *
 * - `epoch` is drawn when the pushing node starts, `seq` counts its pushes; `base` is the seq
 *   of the acknowledged push this one builds on, or null for a whole subtree.
 * - `entries`: name → { parent, value }; `parent` is the node it reports to, null for the
 *   pushing node itself (its parent is the receiver).
 * - `removed`: nodes no longer in the pushing node's subtree; `stale`: nodes it has not
 *   heard from in time (their entry stays, marked stale above).
 * An upstream that does not hold `base` for that epoch answers 409 PUSH_BASE_UNKNOWN, and
 * the next push is whole.
 */
export interface SubtreePush<V> {
  node: string;
  epoch: string;
  seq: number;
  base: number | null;
  entries: Record<string, { parent: string | null; value: V }>;
  removed: string[];
  stale: string[];
}

/**
 * The envelope of a push. Entry values are left unchecked here: the receiver checks each one
 * on its own against the value schema and the per-entry size cap (subtree-mirror.ts), so that
 * a refusal can name the node and field at fault.
 */
export const subtreePushEnvelopeSchema = z
  .object({
    node: z.string().min(1).max(200),
    epoch: z.string().min(1).max(64),
    seq: z.number().int().nonnegative().finite(),
    base: z.number().int().nonnegative().finite().nullable(),
    entries: z.record(z.string().min(1).max(200), z.object({ parent: z.string().max(200).nullable(), value: z.unknown() }).strict()),
    removed: z.array(z.string().max(200)).max(100_000),
    stale: z.array(z.string().max(200)).max(100_000),
  })
  .strict() as z.ZodType<SubtreePush<unknown>, z.ZodTypeDef, unknown>;

/** One node of the subtree as the pusher sees it now. */
export interface PushedEntry<V> {
  /** The node it reports to; null for the pushing node itself. */
  readonly parent: string | null;
  readonly value: V;
  readonly stale: boolean;
}
