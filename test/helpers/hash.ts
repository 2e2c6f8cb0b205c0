import { createHash } from 'node:crypto';

/** The sha256 of bytes, in hex: a blob's id. */
export const sha256 = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
