import { sign, verify, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import { SHA256_PATTERN } from './records.js';

/**
 * The signed head names the newest record (`seq`, `hash`) and a time after which nodes must
 * stop trusting it. The primary re-signs it before it expires; relays pass it on unchanged.
 */
export const signedHeadSchema = z
  .object({
    seq: z.number().int().nonnegative(),
    hash: z.string().regex(SHA256_PATTERN),
    expires: z.string().datetime(),
    signature: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/),
  })
  .strict();

export type SignedHead = z.infer<typeof signedHeadSchema>;

function signedBytes(head: Pick<SignedHead, 'seq' | 'hash' | 'expires'>): Buffer {
  return Buffer.from(canonicalJson({ seq: head.seq, hash: head.hash, expires: head.expires }));
}

export function signHead(seq: number, hash: string, expiresAt: Date, key: KeyObject): SignedHead {
  const unsigned = { seq, hash, expires: expiresAt.toISOString() };
  return { ...unsigned, signature: sign(null, signedBytes(unsigned), key).toString('base64') };
}

export function verifyHeadSignature(head: SignedHead, key: KeyObject): boolean {
  try {
    return verify(null, signedBytes(head), key, Buffer.from(head.signature, 'base64'));
  } catch {
    return false;
  }
}

/** True when any key of the root's catalog role signed `head`. */
export function headSignedBy(head: SignedHead, keys: readonly KeyObject[]): boolean {
  return keys.some((k) => verifyHeadSignature(head, k));
}

/**
 * The short-lived timestamp over the current head: the primary re-signs it well before it
 * ends (lifetime trust.timestampTtl, about an hour), so a hub that replays an old head and
 * timestamp is noticed within one lifetime, long before the head's own expiry.
 */
export const timestampSchema = z
  .object({
    seq: z.number().int().nonnegative(),
    hash: z.string().regex(SHA256_PATTERN),
    issued: z.string().datetime(),
    expires: z.string().datetime(),
    signature: z.string().regex(/^[A-Za-z0-9+/]+={0,2}$/),
  })
  .strict();

export type SignedTimestamp = z.infer<typeof timestampSchema>;

// "kind" separates the two signed forms: a head signature never verifies as a timestamp.
function timestampBytes(t: Omit<SignedTimestamp, 'signature'>): Buffer {
  return Buffer.from(canonicalJson({ kind: 'timestamp', seq: t.seq, hash: t.hash, issued: t.issued, expires: t.expires }));
}

export function signTimestamp(seq: number, hash: string, issuedAt: Date, expiresAt: Date, key: KeyObject): SignedTimestamp {
  const unsigned = { seq, hash, issued: issuedAt.toISOString(), expires: expiresAt.toISOString() };
  return { ...unsigned, signature: sign(null, timestampBytes(unsigned), key).toString('base64') };
}

export function timestampSignedBy(t: SignedTimestamp, keys: readonly KeyObject[]): boolean {
  const bytes = timestampBytes(t);
  return keys.some((k) => {
    try {
      return verify(null, bytes, k, Buffer.from(t.signature, 'base64'));
    } catch {
      return false;
    }
  });
}
