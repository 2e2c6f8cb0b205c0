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
