import { createHash } from 'node:crypto';
import { SluiceError } from '../errors.js';
import type { AdminTokens } from './admin-tokens.js';
import type { NamedTokens } from './named-tokens.js';
import type { Principal } from './roles.js';

/**
 * What a console session keeps of the token it was made from, to check it again on every
 * request — never the token. A named token is known by its name and sha256: the node holds
 * that hash already (named-tokens.ts), so a copy of the session's memory reveals nothing
 * new and cannot be presented as a token; the name alone would let a session outlive a
 * revocation followed by a new token under the same name. A token of SLUICE_ADMIN_TOKEN
 * needs nothing: that list is read once at start, so it stays configured for as long as
 * any session made from it can live (a restart ends them all).
 */
export type TokenReference = { readonly kind: 'env' } | { readonly kind: 'named'; readonly name: string; readonly sha256: Buffer };

/** Why a token no longer stands behind a session, and what to tell its holder. */
export interface TokenGone {
  readonly reason: 'revoked' | 'expired';
  readonly message: string;
}

/**
 * Who an administrative caller is and what role it has: a named token (`sluice token add`,
 * with its role and scope), else a token from SLUICE_ADMIN_TOKEN, which acts as `admin`.
 * 401 without a bearer token, 401 TOKEN_EXPIRED for an expired named token, 403 for a token
 * this node does not know.
 */
export class Credentials {
  constructor(
    private readonly env: AdminTokens,
    readonly named: NamedTokens | undefined,
  ) {}

  get configured(): boolean {
    return this.env.configured || (this.named?.size ?? 0) > 0;
  }

  authenticate(header: string | undefined, now = Date.now()): Principal {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (m && this.named) {
      const found = this.named.find(m[1]!, now);
      if (found && 'expired' in found) throw new SluiceError('TOKEN_EXPIRED', `the token ${found.expired.name} expired at ${found.expired.expiresAt}; ask an admin for a new one ("sluice token add")`);
      if (found) return found;
    }
    return { who: this.env.authenticate(header), role: 'admin', scope: {}, via: 'env' };
  }

  /**
   * A console sign-in: the token's principal (throwing as `authenticate` does), what the
   * session keeps to check it again, and when the token expires (ms; null: never).
   */
  signIn(token: string, now = Date.now()): { principal: Principal; reference: TokenReference; expiresAt: number | null } {
    const principal = this.authenticate(`Bearer ${token}`, now);
    if (principal.via !== 'token') return { principal, reference: { kind: 'env' }, expiresAt: null };
    const sha256 = createHash('sha256').update(token).digest();
    const record = this.named?.current(principal.who, sha256);
    return { principal, reference: { kind: 'named', name: principal.who, sha256 }, expiresAt: record?.expiresAt ? Date.parse(record.expiresAt) : null };
  }

  /** Undefined while the token behind a session still holds; else why it does not. */
  recheck(ref: TokenReference, now = Date.now()): TokenGone | undefined {
    if (ref.kind === 'env') return undefined;
    const record = this.named?.current(ref.name, ref.sha256);
    if (!record) return { reason: 'revoked', message: `the token ${ref.name} this console session was signed in with has been revoked, so the session has ended; sign in again at /ui/sign-in with a current token` };
    if (record.expiresAt !== null && Date.parse(record.expiresAt) <= now) {
      return { reason: 'expired', message: `the token ${ref.name} this console session was signed in with expired at ${record.expiresAt}, so the session has ended; ask an admin for a new token ("sluice token add") and sign in again at /ui/sign-in` };
    }
    return undefined;
  }
}
