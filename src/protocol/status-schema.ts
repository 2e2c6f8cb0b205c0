import { z } from 'zod';
import { SEVERITIES } from '../domain/severity.js';
import { TRANSFER_STATES } from '../domain/labels.js';
import { PENDING_PACKAGES_SHOWN, type NodeStatus } from './status.js';

/**
 * The wire schema of one node's own status (NodeStatus without `children`) as it travels up
 * the tree in a subtree push. A downstream node is authenticated, not trusted: every entry it
 * pushes, about itself or relayed from below, is checked against this at every hop before it
 * is stored, relayed or rendered. Unknown fields are dropped (a newer node's additions are
 * shown once its upstream is upgraded: upstreams first). Lists carry the caps the node itself
 * applies when it builds its status (100 transfers shown, …), so an honest node never hits one.
 */

/** Longest string field of a pushed status (error messages are cut well below this). */
const TEXT = 2000;
/** Node, peer and region names, labels, timestamps. */
const NAME = 200;
const LIST = 1000;

const text = z.string().max(TEXT);
const name = z.string().max(NAME);
const instant = z.string().max(64);
const count = z.number().int().nonnegative().finite();
const figure = z.number().finite();
const sha = z.string().max(128);
const packages = z.array(name).max(100);

const errorShape = z.object({ code: name, message: text, at: instant });

const transferSchema = z.object({
  sha256: sha,
  packages,
  severity: z.enum(SEVERITIES),
  size: count,
  offset: count,
  state: z.enum(TRANSFER_STATES),
  rateBytesPerSec: figure,
  attempts: count,
  peer: name.nullable(),
  lastError: errorShape.nullable(),
});

/*
 * What every version of a node sends is required; fields added later default to "nothing to
 * say" when a node of an earlier version leaves them out, so a mixed tree keeps its figures.
 */
export const ownStatusSchema = z.object({
  node: name,
  primary: z.boolean(),
  region: name,
  // Added later: a node of an earlier version pushes none.
  rings: z.array(name).max(64).default([]),
  version: name.default('unknown'),
  at: instant.default(''),
  ready: z.boolean().default(true),
  upstream: z.object({ preferred: name, current: name, lastSyncAt: instant.nullable(), clockSkewSeconds: figure.nullable() }).nullable().default(null),
  catalog: z.object({ seq: count, headExpires: instant.nullable() }),
  store: z.object({ blobs: count, bytes: count }),
  // `packages` added later: absent from a node of an earlier version (not defaulted, so that
  // "names none" stays distinguishable from "has none pending").
  pending: z.object({ blobs: count, bytes: count, packages: z.array(name).max(PENDING_PACKAGES_SHOWN).optional(), morePackages: count.optional() }),
  transfers: z.array(transferSchema).max(LIST),
  rate: z
    .object({
      limitBytesPerSec: figure.nullable(),
      unlimited: z.boolean(),
      window: z.object({ index: count, label: text, rate: name.optional() }).nullable(),
      nextChangeAt: instant.nullable(),
      background: z.object({ rateBytesPerSec: figure, baseDelayMs: figure.nullable(), delayMs: figure.nullable(), reason: text }).optional(),
    })
    .nullable()
    .default(null),
  forecast: z
    .object({
      doneAt: instant.nullable(),
      pendingPackages: count,
      late: z.array(z.object({ id: name, severity: z.enum(SEVERITIES), bytes: count, deadline: instant, eta: instant.nullable(), late: z.boolean() })).max(LIST),
    })
    .default({ doneAt: null, pendingPackages: 0, late: [] }),
  lastError: errorShape.extend({ since: instant.optional(), source: text.optional(), clearedAt: instant.nullable().optional() }).nullable().default(null),
  missing: z.array(z.object({ sha256: sha, packages, peer: name, since: instant })).max(LIST).default([]),
  lost: z.array(z.object({ sha256: sha, packages: z.array(name).max(100) })).max(LIST).default([]),
  warnings: z.array(text).max(100).default([]),
}) as unknown as z.ZodType<Omit<NodeStatus, 'children'>, z.ZodTypeDef, unknown>;

/**
 * Largest own status of one node, serialized. A branch with 100 transfers shown and full
 * lists stays near 100 KiB; without a cap one node could make every `GET /v1/status` above
 * it as large as the push limit.
 */
export const MAX_STATUS_ENTRY_BYTES = 256 * 1024;
