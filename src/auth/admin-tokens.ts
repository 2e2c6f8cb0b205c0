import { createHash, timingSafeEqual } from 'node:crypto';
import { SluiceError } from '../errors.js';

/**
 * The admin tokens a node accepts. `SLUICE_ADMIN_TOKEN` is a comma-separated list; an
 * entry written `NAME=TOKEN` records NAME as the actor of every decision made with it,
 * otherwise the actor is `token:` and the first 8 hex digits of the token's sha256
 * (enough to tell tokens apart in the catalog without revealing them).
 */
export class AdminTokens {
  private readonly entries: { digest: Buffer; who: string }[];

  /** `envName` names where the tokens come from, in messages. */
  constructor(
    spec: string | undefined,
    private readonly envName = 'SLUICE_ADMIN_TOKEN',
  ) {
    this.entries = (spec ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean)
      .map((entry) => {
        const eq = entry.indexOf('=');
        const named = eq > 0 && /^[A-Za-z0-9._@-]{1,64}$/.test(entry.slice(0, eq));
        const token = named ? entry.slice(eq + 1) : entry;
        if (token.length < 16) throw new SluiceError('SECRETS_INVALID', `a token in ${envName} is shorter than 16 characters; use a long random value (e.g. "openssl rand -hex 24")`);
        const digest = sha256(token);
        return { digest, who: named ? entry.slice(0, eq) : `token:${digest.toString('hex').slice(0, 8)}` };
      });
  }

  get configured(): boolean {
    return this.entries.length > 0;
  }

  /**
   * Returns the actor for an `Authorization` header, or throws 401 (no credentials) / 403
   * (wrong ones). Digests have equal length, so timingSafeEqual compares in constant time
   * and every entry is compared, whichever matches.
   */
  authenticate(header: string | undefined): string {
    const m = header ? /^Bearer\s+(\S+)\s*$/i.exec(header) : null;
    if (!m) throw new SluiceError('UNAUTHORIZED', 'this call changes state and needs "Authorization: Bearer <token>"; the CLI sends $SLUICE_TOKEN');
    const presented = sha256(m[1]!);
    let who: string | undefined;
    for (const e of this.entries) if (timingSafeEqual(e.digest, presented) && who === undefined) who = e.who;
    if (who === undefined) {
      throw new SluiceError('FORBIDDEN', this.configured ? `the token is not one this node accepts (${this.envName} on the node)${m[1]!.includes('=') ? '; send the token alone: in a NAME=TOKEN entry of the node\'s list, only the part after "="' : ''}` : `this node has no token configured in ${this.envName}, so it accepts no such calls`);
    }
    return who;
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
