import { escapeUnprintable } from '../domain/printable.js';
import type { Sublevel } from '../store/meta-db.js';

/** One act, as `GET /v1/audit` and `sluice audit` show it. */
export interface AuditEntry {
  readonly seq: number;
  readonly at: string;
  /** The person or tool (a named token's name, NAME of a NAME=TOKEN entry, token:HASH), or `-` when unknown. */
  readonly who: string;
  readonly role: string | null;
  /** How the caller proved itself: env, token, session; null when it did not. */
  readonly via: string | null;
  /** The caller's address. */
  readonly source: string;
  /** What was done or tried: publish, approve, decline, root, restore, import, verify, feeds, tokens (made or revoked), sign-in. */
  readonly act: string;
  /** What it was done to (a package id and ring, a token's name, a blob), when it applies. */
  readonly target: string | null;
  /** ok, or the error code that refused or failed it. */
  readonly outcome: string;
}

const KEY_DIGITS = 15;
/** Entries kept in memory for the push upstream. */
export const RECENT = 100;
const key = (seq: number) => String(seq).padStart(KEY_DIGITS, '0');
/** What one entry may hold of caller-supplied text. */
export const FIELD_MAX = 200;

/**
 * One field as the trail keeps it: what does not print as itself (CR, LF, escape codes,
 * bidirectional overrides) written out as `\uXXXX`, so a name cannot make its line read as
 * another; then bounded.
 */
const clean = (s: string) => escapeUnprintable(s).slice(0, FIELD_MAX);
const cleanEntry = (e: AuditEntry): AuditEntry => ({
  seq: e.seq,
  at: e.at,
  who: clean(e.who),
  role: e.role === null ? null : clean(e.role),
  via: e.via === null ? null : clean(e.via),
  source: clean(e.source),
  act: clean(e.act),
  target: e.target === null ? null : clean(e.target),
  outcome: clean(e.outcome),
});

/**
 * Every decision and sensitive act at this node, in order, kept in its database across
 * restarts. Append-only: no route or command removes or edits an entry. An entry is small
 * (a few hundred bytes) and written only for administrative acts and sign-ins, so the log
 * grows with what people do, not with traffic.
 */
export class AuditLog {
  private constructor(
    private readonly db: Sublevel,
    private nextSeq: number,
    /** The newest entries, oldest first (what travels upward: audit-rollup.ts). */
    private readonly newest: AuditEntry[],
  ) {}

  static async open(db: Sublevel): Promise<AuditLog> {
    const newest: AuditEntry[] = [];
    // Entries written by earlier versions may hold raw control characters: cleaned here.
    for await (const [, v] of db.iterator({ reverse: true, limit: RECENT }) as AsyncIterable<[string, AuditEntry]>) newest.unshift(cleanEntry(v));
    return new AuditLog(db, (newest.at(-1)?.seq ?? 0) + 1, newest);
  }

  /** The newest entries here, oldest first. */
  recent(): AuditEntry[] {
    return [...this.newest];
  }

  /** Appends an entry; writes are ordered by their sequence number. */
  async append(e: Omit<AuditEntry, 'seq' | 'at'>, now = new Date()): Promise<AuditEntry> {
    const entry = cleanEntry({ ...e, seq: this.nextSeq++, at: now.toISOString() });
    // In memory in sequence order, whichever write finishes first; dropped again if it fails.
    this.newest.push(entry);
    if (this.newest.length > RECENT) this.newest.shift();
    try {
      await this.db.put(key(entry.seq), entry);
    } catch (err) {
      const at = this.newest.indexOf(entry);
      if (at >= 0) this.newest.splice(at, 1);
      throw err;
    }
    return entry;
  }

  /** Entries after `after`, oldest first, at most `limit`. */
  async read(after: number, limit: number): Promise<AuditEntry[]> {
    const out: AuditEntry[] = [];
    for await (const [, v] of this.db.iterator({ gt: key(after), limit }) as AsyncIterable<[string, AuditEntry]>) out.push(v);
    return out;
  }

  get lastSeq(): number {
    return this.nextSeq - 1;
  }
}
