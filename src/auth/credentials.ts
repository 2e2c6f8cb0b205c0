import { SluiceError } from '../errors.js';
import type { AdminTokens } from './admin-tokens.js';
import type { NamedTokens } from './named-tokens.js';
import type { Principal } from './roles.js';

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
}
