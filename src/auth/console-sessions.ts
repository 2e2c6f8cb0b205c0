import { randomBytes, timingSafeEqual } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { Credentials } from './credentials.js';
import type { Principal } from './roles.js';

/** A console sign-in: who it acts as, and the token its forms must echo (CSRF). */
export interface ConsoleSession {
  readonly id: string;
  readonly actor: string;
  /** Who signed in and with which role: the console acts with exactly the token's rights. */
  readonly principal: Principal;
  readonly csrf: string;
  readonly expiresAt: number;
}

/**
 * Console sessions made from an admin or named token (DESIGN: "a console session made from it"). The
 * token is checked once, at sign-in, by the same Credentials as the API; the browser then holds
 * only a random session id in an HttpOnly cookie. Sessions live in memory: a restart signs
 * everyone out, which is the safe direction. Each has a fixed lifetime, and the oldest are
 * dropped past `max` so that sign-in floods cannot grow the node's memory.
 */
export class ConsoleSessions {
  private readonly sessions: LRUCache<string, ConsoleSession>;

  constructor(
    private readonly credentials: Credentials,
    readonly ttlMs = 8 * 3600_000,
    max = 1000,
  ) {
    this.sessions = new LRUCache({ max, ttl: ttlMs });
  }

  /** Throws UNAUTHORIZED / FORBIDDEN exactly as a bearer call with that token would. */
  signIn(token: string): ConsoleSession {
    return this.open(this.credentials.authenticate(`Bearer ${token.trim()}`));
  }

  /** A session for someone the identity provider signed in (console/oidc-sign-in.ts) with the role it maps to. */
  open(principal: Principal): ConsoleSession {
    const session = { id: randomId(), actor: principal.who, principal: { ...principal, via: 'session' as const }, csrf: randomId(), expiresAt: Date.now() + this.ttlMs };
    this.sessions.set(session.id, session);
    return session;
  }

  find(id: string | undefined): ConsoleSession | undefined {
    return id ? this.sessions.get(id) : undefined;
  }

  signOut(id: string | undefined): void {
    if (id) this.sessions.delete(id);
  }

  /** Whether a form token is the session's own (constant time). */
  static csrfMatches(session: ConsoleSession, presented: unknown): boolean {
    if (typeof presented !== 'string') return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }
}

function randomId(): string {
  return randomBytes(32).toString('base64url');
}
