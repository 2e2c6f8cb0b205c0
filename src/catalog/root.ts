import { createHash, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';

/**
 * The root of trust: a versioned document listing the keys allowed to sign the catalog
 * (the online `catalog` role, held by the primary) and the keys allowed to sign the next
 * root (the offline `root` role), each with a threshold, and an expiry. Roots travel in the
 * catalog as records, relayed unchanged; every node and agent accepts them one version at a
 * time, so a lost or stolen key is replaced or revoked without moving a blob or breaking the
 * hash chain.
 */
const keyId = z.string().regex(/^[0-9a-f]{64}$/);
const role = z.object({ keyids: z.array(keyId).min(1).max(16), threshold: z.number().int().min(1).max(16) }).strict();

export const rootBodySchema = z
  .object({
    type: z.literal('sluice-root'),
    version: z.number().int().min(1),
    expires: z.string().datetime().nullable(),
    /** keyid → Ed25519 public key, SPKI DER in base64. keyid = sha256 of that DER. */
    keys: z.record(keyId, z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/)),
    roles: z.object({ root: role, catalog: role }).strict(),
  })
  .strict();

export const signedRootSchema = rootBodySchema.extend({
  signatures: z.array(z.object({ keyid: keyId, sig: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/) }).strict()).max(32),
});

export type RootBody = z.infer<typeof rootBodySchema>;
export type SignedRoot = z.infer<typeof signedRootSchema>;

/** A root in force: its document (absent for the implicit version 1 of a single key) and its keys. */
export interface TrustRoot {
  readonly version: number;
  readonly expires: string | null;
  readonly catalogKeys: readonly KeyObject[];
  readonly doc: SignedRoot | undefined;
  readonly body: RootBody;
}

export const keyIdOf = (key: KeyObject): string => createHash('sha256').update(key.export({ type: 'spki', format: 'der' })).digest('hex');
const keyFromBase64 = (b64: string): KeyObject => createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
export const encodeKey = (key: KeyObject): string => key.export({ type: 'spki', format: 'der' }).toString('base64');

function signedBytes(body: RootBody): Buffer {
  return Buffer.from(canonicalJson(body));
}

export function bodyOf(doc: SignedRoot | RootBody): RootBody {
  const { signatures: _s, ...body } = doc as SignedRoot;
  return body;
}

/** The version-1 root of a topology that names a single catalogKey: that key holds both roles. */
export function implicitRoot(catalogKey: KeyObject): TrustRoot {
  const id = keyIdOf(catalogKey);
  const body: RootBody = { type: 'sluice-root', version: 1, expires: null, keys: { [id]: encodeKey(catalogKey) }, roles: { root: { keyids: [id], threshold: 1 }, catalog: { keyids: [id], threshold: 1 } } };
  return { version: 1, expires: null, catalogKeys: [catalogKey], doc: undefined, body };
}

/** Why a root was refused, in words that name the rule. */
export class RootRejected extends Error {}

function rootOf(doc: SignedRoot): TrustRoot {
  const body = bodyOf(doc);
  for (const r of [body.roles.root, body.roles.catalog]) {
    for (const id of r.keyids) if (!body.keys[id]) throw new RootRejected(`root version ${body.version} names key ${id.slice(0, 12)}… in a role but does not list it under keys`);
    if (r.threshold > r.keyids.length) throw new RootRejected(`root version ${body.version} asks for ${r.threshold} signatures from ${r.keyids.length} keys`);
  }
  for (const [id, b64] of Object.entries(body.keys)) if (keyIdOf(keyFromBase64(b64)) !== id) throw new RootRejected(`root version ${body.version}: key ${id.slice(0, 12)}… is not the sha256 of its public key`);
  return { version: body.version, expires: body.expires, catalogKeys: body.roles.catalog.keyids.map((id) => keyFromBase64(body.keys[id]!)), doc, body };
}

/**
 * Rules a root must meet to enter the tree (where it is applied, and wherever it is verified
 * on arrival): heads and timestamps carry one signature, so a catalog threshold above 1 would
 * promise what is not checked; a root without an expiry cannot be retired by time; Sluice
 * signs and verifies Ed25519 only, so another key type would pass parsing and never verify.
 * Roots already in a verified log are not judged again.
 */
function policyProblem(body: RootBody): string | undefined {
  if (body.roles.catalog.threshold !== 1) return `root version ${body.version} asks for ${body.roles.catalog.threshold} catalog signatures; catalog heads carry one signature, so the catalog threshold must be 1`;
  if (body.expires === null) return `root version ${body.version} has no expiry; give it one ("sluice root new --expires 365d")`;
  for (const [id, b64] of Object.entries(body.keys)) {
    let type: string | undefined;
    try {
      type = keyFromBase64(b64).asymmetricKeyType;
    } catch {
      type = 'unreadable';
    }
    if (type !== 'ed25519') return `root version ${body.version}: key ${id.slice(0, 12)}… is ${type ?? 'of an unknown type'}, not Ed25519 (make keys with "sluice keygen")`;
  }
  return undefined;
}

/** How many distinct keys of `roleOf` (in `keysOf`) signed `doc`. */
function signers(doc: SignedRoot, roleOf: RootBody['roles']['root'], keysOf: RootBody['keys']): number {
  const bytes = signedBytes(bodyOf(doc));
  const ok = new Set<string>();
  for (const s of doc.signatures) {
    if (!roleOf.keyids.includes(s.keyid) || ok.has(s.keyid)) continue;
    try {
      if (verify(null, bytes, keyFromBase64(keysOf[s.keyid]!), Buffer.from(s.sig, 'base64'))) ok.add(s.keyid);
    } catch {
      // a malformed signature counts for nothing
    }
  }
  return ok.size;
}

/**
 * The root that follows `current`, if `doc` may: exactly the next version, signed by a
 * threshold of the current root keys (so whoever holds them agrees) and of its own (so the
 * new keys work), and not expired at `nowMs` (when given).
 */
export function nextRoot(current: TrustRoot, raw: unknown, nowMs?: number): TrustRoot {
  const parsed = signedRootSchema.safeParse(raw);
  if (!parsed.success) throw new RootRejected(`a root document is malformed (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
  const doc = parsed.data;
  if (doc.version !== current.version + 1) {
    throw new RootRejected(doc.version <= current.version ? `root version ${doc.version} is not newer than the root in force (${current.version}); roots never go back` : `root version ${doc.version} skips version ${current.version + 1}; roots are accepted one version at a time`);
  }
  const problem = nowMs === undefined ? undefined : policyProblem(bodyOf(doc));
  if (problem) throw new RootRejected(problem);
  const next = rootOf(doc);
  const old = current.body.roles.root;
  const byOld = signers(doc, old, current.body.keys);
  if (byOld < old.threshold) throw new RootRejected(`root version ${doc.version} is signed by ${byOld} of the ${old.threshold} keys root version ${current.version} requires; the current root keys must sign their successor`);
  const own = doc.roles.root;
  const byNew = signers(doc, own, doc.keys);
  if (byNew < own.threshold) throw new RootRejected(`root version ${doc.version} is signed by ${byNew} of its own ${own.threshold} root keys; a root must also be signed by the keys it names`);
  if (nowMs !== undefined && doc.expires !== null && Date.parse(doc.expires) <= nowMs) throw new RootRejected(`root version ${doc.version} expired at ${doc.expires}`);
  return next;
}

/** A pinned initial root file (any version): self-consistent and signed by its own root keys. */
export function pinnedRoot(raw: unknown): TrustRoot {
  const parsed = signedRootSchema.safeParse(raw);
  if (!parsed.success) throw new RootRejected(`the pinned root is malformed (${parsed.error.issues[0]?.path.join('.')}: ${parsed.error.issues[0]?.message})`);
  const problem = policyProblem(bodyOf(parsed.data));
  if (problem) throw new RootRejected(`the pinned root: ${problem}`);
  const root = rootOf(parsed.data);
  const own = parsed.data.roles.root;
  if (signers(parsed.data, own, parsed.data.keys) < own.threshold) throw new RootRejected(`the pinned root (version ${parsed.data.version}) is not signed by ${own.threshold} of its own root keys`);
  return root;
}

/** Adds `key`'s signature to a root document. */
export function signRoot(doc: SignedRoot | RootBody, key: KeyObject, publicKey: KeyObject): SignedRoot {
  const body = bodyOf(doc);
  const keyid = keyIdOf(publicKey);
  const sig = sign(null, signedBytes(body), key).toString('base64');
  const existing = ((doc as SignedRoot).signatures ?? []).filter((s) => s.keyid !== keyid);
  return { ...body, signatures: [...existing, { keyid, sig }] };
}

/** True when `key` may sign heads and timestamps under `root`. */
export function mayCatalogSign(root: TrustRoot, publicKey: KeyObject): boolean {
  const id = keyIdOf(publicKey);
  return root.catalogKeys.some((k) => keyIdOf(k) === id);
}
