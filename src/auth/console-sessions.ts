import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { LRUCache } from 'lru-cache';
import type { Access } from '../topology/types.js';
import { grantFor } from './access-grants.js';
import type { Credentials, TokenReference } from './credentials.js';
import type { Principal } from './roles.js';

/**
 * What a session is checked against again on every request: the token it was made from
 * (a reference, never the token: credentials.ts), or, for the identity provider's sign-in,
 * the person's groups that `access.groups` lists (their name is the session's actor).
 */
export type SessionCredential = TokenReference | { readonly kind: 'oidc'; readonly groups: readonly string[] };

/** A console sign-in: who it acts as, and the token its forms must echo (CSRF). */
export interface ConsoleSession {
  readonly id: string;
  readonly actor: string;
  /** Who signed in and with which role: the console acts with exactly the token's rights. */
  readonly principal: Principal;
  readonly csrf: string;
  /** Ms since the epoch: 8 hours after sign-in, or the token's own expiry when that is sooner. */
  readonly expiresAt: number;
  readonly credential: SessionCredential;
}

/**
 * Why a session no longer acts: its token was revoked (or replaced), its token expired,
 * the topology no longer gives the person the role it was made with, or it ended otherwise
 * (its 8 hours passed, it was signed out, the node restarted, or the id was never one).
 */
export type SessionEnd = 'revoked' | 'expired' | 'changed' | 'ended';

export interface EndedSession {
  readonly reason: SessionEnd;
  /** What to tell the person: why, and to sign in again. */
  readonly message: string;
  /** Who the session was, for the audit entry of an act it was refused; unknown for an id this node does not hold. */
  readonly principal?: Principal;
}

/** A session id as a request presents it: a session that may act, or one that has ended. */
export type SessionState = { readonly session: ConsoleSession; readonly ended?: undefined } | { readonly session?: undefined; readonly ended: EndedSession };

const UNKNOWN: EndedSession = { reason: 'ended', message: 'the console session has ended (a session lasts 8 hours at most, and signing out or a restart of the node ends it); sign in again at /ui/sign-in' };
/** How long the reason a session ended is kept, so that its next requests (and the page it reloads) can say why. */
const ENDED_KEPT_MS = 3600_000;

/**
 * Console sessions made from an admin or named token, or by the identity provider. The
 * token is checked at sign-in by the same Credentials as the API; the browser then holds
 * only a random session id in an HttpOnly cookie. Every request of a session checks again
 * what it was made from, as the node knows it now: a revoked or expired token, or a role
 * the topology no longer gives the person, ends the session at once (the console then asks
 * to sign in again) instead of letting it act for the rest of its 8 hours. A session never
 * outlives its token's expiry. Sessions live in memory: a restart signs everyone out, which
 * is the safe direction. The oldest are dropped past `max` so that sign-in floods cannot
 * grow the node's memory; the reasons sessions ended are kept an hour, as many at most.
 */
export class ConsoleSessions {
  readonly ttlMs: number;
  private readonly sessions: LRUCache<string, ConsoleSession>;
  private readonly ended: LRUCache<string, EndedSession>;
  private readonly access: Pick<Access, 'people' | 'groups'>;
  private readonly now: () => number;

  constructor(
    private readonly credentials: Credentials,
    options: { access?: Pick<Access, 'people' | 'groups'>; ttlMs?: number; max?: number; now?: () => number } = {},
  ) {
    this.ttlMs = options.ttlMs ?? 8 * 3600_000;
    this.access = options.access ?? { people: new Map(), groups: new Map() };
    this.now = options.now ?? Date.now;
    this.sessions = new LRUCache({ max: options.max ?? 1000, ttl: this.ttlMs });
    this.ended = new LRUCache({ max: options.max ?? 1000, ttl: ENDED_KEPT_MS });
  }

  /** Throws UNAUTHORIZED / FORBIDDEN / TOKEN_EXPIRED exactly as a bearer call with that token would. */
  signIn(token: string): ConsoleSession {
    const now = this.now();
    const { principal, reference, expiresAt } = this.credentials.signIn(token.trim(), now);
    return this.create(principal, reference, expiresAt, now);
  }

  /**
   * A session for someone the identity provider signed in (console/oidc-sign-in.ts) with the
   * role the topology gives them; `groups`: theirs that `access.groups` lists (access-grants.ts).
   */
  open(principal: Principal, groups: readonly string[]): ConsoleSession {
    return this.create(principal, { kind: 'oidc', groups: [...groups] }, null, this.now());
  }

  /**
   * The state of the session a request presents, checked again against what it was made
   * from; undefined when the request presents none. A session found ended is dropped and
   * its reason kept, so every later request with it is told why.
   */
  check(id: string | undefined): SessionState | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (!session) return { ended: this.ended.get(id) ?? UNKNOWN };
    const gone = this.whyEnded(session, this.now());
    if (!gone) return { session };
    const ended: EndedSession = { ...gone, principal: session.principal };
    this.sessions.delete(id);
    this.ended.set(id, ended);
    return { ended };
  }

  /** The session if it may still act. */
  find(id: string | undefined): ConsoleSession | undefined {
    return this.check(id)?.session;
  }

  signOut(id: string | undefined): void {
    if (id === undefined) return;
    this.sessions.delete(id);
    this.ended.delete(id);
  }

  /** Whether a form token is the session's own (constant time). */
  static csrfMatches(session: ConsoleSession, presented: unknown): boolean {
    if (typeof presented !== 'string') return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private create(principal: Principal, credential: SessionCredential, tokenExpiresAt: number | null, now: number): ConsoleSession {
    const session: ConsoleSession = {
      id: randomId(),
      actor: principal.who,
      principal: { ...principal, via: 'session' },
      csrf: randomId(),
      expiresAt: Math.min(now + this.ttlMs, tokenExpiresAt ?? Infinity),
      credential,
    };
    this.sessions.set(session.id, session);
    return session;
  }

  private whyEnded(session: ConsoleSession, now: number): Omit<EndedSession, 'principal'> | undefined {
    const c = session.credential;
    if (c.kind === 'oidc') {
      // The topology as this node holds it now (read at start: a new one takes a restart,
      // which ends every session anyway). A changed role or scope ends the session rather
      // than acting with the new grant: the pages the person has open were drawn for the old one.
      const p = session.principal;
      const current = grantFor(this.access, p.who, c.groups)?.grant;
      if (!current || current.role !== p.role || !isDeepStrictEqual(current.scope, p.scope)) {
        return { reason: 'changed', message: `access.people and access.groups of the topology no longer give ${p.who} the role ${p.role} this console session was made with, so it has ended; sign in again at /ui/sign-in` };
      }
    } else {
      const gone = this.credentials.recheck(c, now);
      if (gone) return gone;
    }
    return session.expiresAt <= now ? UNKNOWN : undefined;
  }
}

function randomId(): string {
  return randomBytes(32).toString('base64url');
}
