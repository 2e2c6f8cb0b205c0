import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { SluiceError } from '../errors.js';
import type { Sublevel } from '../store/meta-db.js';
import { ROLES, type Principal, type Role, type Scope } from './roles.js';

/** A named token as stored: its sha256 only, never the token. */
export interface NamedTokenRecord {
  readonly name: string;
  readonly role: Role;
  readonly scope: Scope;
  /** sha256 of the token, hex. */
  readonly sha256: string;
  readonly createdAt: string;
  readonly createdBy: string;
  /** null: does not expire. */
  readonly expiresAt: string | null;
}

/** What `GET /v1/tokens` and `sluice token list` show of a token. */
export type NamedTokenView = Omit<NamedTokenRecord, 'sha256'>;

const NAME = /^[A-Za-z0-9._@-]{1,64}$/;
/** Scoped roles and the scope each needs. */
const SCOPE_OF: Partial<Record<Role, keyof Scope>> = { approver: 'rings', operator: 'nodes' };
const MAX_TOKENS = 10_000;

/**
 * Tokens made for people and tools (`sluice token add`), each with a role and a scope,
 * held in the node's database as hashes: the token itself is shown once, when made, and a
 * stolen copy of the data directory reveals none. Adding or revoking one takes effect on
 * this node's next request, without a restart.
 */
export class NamedTokens {
  private readonly byName = new Map<string, NamedTokenRecord>();

  private constructor(private readonly db: Sublevel) {}

  static async open(db: Sublevel): Promise<NamedTokens> {
    const tokens = new NamedTokens(db);
    for await (const [name, value] of db.iterator() as AsyncIterable<[string, NamedTokenRecord]>) tokens.byName.set(name, value);
    return tokens;
  }

  get size(): number {
    return this.byName.size;
  }

  /** The principal for a presented token, or undefined when it is none of these. */
  find(token: string, now = Date.now()): Principal | { expired: NamedTokenRecord } | undefined {
    const presented = sha256(token);
    let found: NamedTokenRecord | undefined;
    // Every record compared in constant time, whichever matches.
    for (const r of this.byName.values()) if (timingSafeEqual(Buffer.from(r.sha256, 'hex'), presented) && !found) found = r;
    if (!found) return undefined;
    if (found.expiresAt !== null && Date.parse(found.expiresAt) <= now) return { expired: found };
    return { who: found.name, role: found.role, scope: found.scope, via: 'token' };
  }

  /**
   * The record named `name` if it is still the token whose sha256 is `digest`: what a console
   * session keeps of its token instead of the token. Undefined once revoked, or replaced by a
   * new token under the same name (its hash differs), so neither revives the session.
   */
  current(name: string, digest: Buffer): NamedTokenRecord | undefined {
    const r = this.byName.get(name);
    return r && timingSafeEqual(Buffer.from(r.sha256, 'hex'), digest) ? r : undefined;
  }

  list(): NamedTokenView[] {
    return [...this.byName.values()].map(({ sha256: _h, ...view }) => view).sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Makes a token; returns it (shown once) and what is stored. */
  async add(o: { name: string; role: Role; scope: Scope; expiresInMs: number | null; by: string }, now = Date.now()): Promise<{ token: string; record: NamedTokenView }> {
    if (!NAME.test(o.name)) throw new SluiceError('BAD_REQUEST', `token name "${o.name.slice(0, 80)}": use 1-64 letters, digits, dots, dashes, underscores or @ (a person's or tool's name)`);
    if (!ROLES.includes(o.role)) throw new SluiceError('BAD_REQUEST', `role "${String(o.role).slice(0, 40)}": expected one of ${ROLES.join(', ')}`);
    const needs = SCOPE_OF[o.role];
    if (needs && !(o.scope[needs]?.length)) throw new SluiceError('BAD_REQUEST', `an ${o.role} token needs its scope: --${needs} (names or patterns such as emea-*)`);
    if (o.role === 'auditor' && !o.scope.regions?.length && !o.scope.sites?.length) throw new SluiceError('BAD_REQUEST', 'an auditor token needs its scope: --regions or --sites (names or patterns; "*" for the whole tree)');
    if (this.byName.has(o.name)) throw new SluiceError('TOKEN_EXISTS', `a token named ${o.name} exists; revoke it first ("sluice token revoke ${o.name}") or choose another name`);
    if (this.byName.size >= MAX_TOKENS) throw new SluiceError('BAD_REQUEST', `this node holds ${MAX_TOKENS} tokens already; revoke unused ones`);
    const token = `sluice_${randomBytes(24).toString('base64url')}`;
    const record: NamedTokenRecord = {
      name: o.name,
      role: o.role,
      scope: o.scope,
      sha256: sha256(token).toString('hex'),
      createdAt: new Date(now).toISOString(),
      createdBy: o.by,
      expiresAt: o.expiresInMs === null ? null : new Date(now + o.expiresInMs).toISOString(),
    };
    await this.db.put(o.name, record);
    this.byName.set(o.name, record);
    const { sha256: _h, ...view } = record;
    return { token, record: view };
  }

  /** Removes a token; false when there was none of that name. */
  async revoke(name: string): Promise<boolean> {
    if (!this.byName.has(name)) return false;
    await this.db.del(name);
    this.byName.delete(name);
    return true;
  }
}

function sha256(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
