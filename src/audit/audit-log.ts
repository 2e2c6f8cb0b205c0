import { escapeUnprintable } from '../domain/printable.js';
import type { Sublevel } from '../store/meta-db.js';
import { RefusedActs } from './refused-acts.js';

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
/** Entries that travel upward (audit-rollup.ts): the newest, at most this many. */
export const RECENT = 100;
/**
 * Of those, what refused or failed acts may take while there are allowed acts to fill the
 * rest: a caller refused over and over cannot push the acts that were done out of the view
 * above.
 */
export const RECENT_REFUSALS = 20;
/** Entries read back at start-up to find the newest allowed and refused ones. */
const SCAN_AT_OPEN = 10_000;
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
 * grows with what people do, not with traffic; a caller refused over and over leaves a few
 * entries and a count a minute (refused-acts.ts).
 */
export class AuditLog {
  private readonly refusals: RefusedActs;
  /** Summaries of refusals being written, awaited by close(). */
  private readonly summaries = new Set<Promise<unknown>>();

  private constructor(
    private readonly db: Sublevel,
    private nextSeq: number,
    /** The newest allowed acts and the newest refused or failed ones, each oldest first. */
    private readonly newestAllowed: AuditEntry[],
    private readonly newestRefused: AuditEntry[],
    private readonly onError: (err: Error) => void,
  ) {
    this.refusals = new RefusedActs((summary) => {
      const written = this.write(summary, new Date())
        .catch((err: Error) => {
          try {
            this.onError(err);
          } catch {
            // a timer's write never takes the process down
          }
        })
        .finally(() => this.summaries.delete(written));
      this.summaries.add(written);
    });
  }

  /** `onError`: a summary of refusals that could not be written (it is written from a timer). */
  static async open(db: Sublevel, onError: (err: Error) => void = () => undefined): Promise<AuditLog> {
    const allowed: AuditEntry[] = [];
    const refused: AuditEntry[] = [];
    let lastSeq = 0;
    let scanned = 0;
    for await (const [, v] of db.iterator({ reverse: true, limit: SCAN_AT_OPEN }) as AsyncIterable<[string, AuditEntry]>) {
      if (scanned++ === 0) lastSeq = v.seq;
      const into = v.outcome === 'ok' ? allowed : refused;
      // Entries written by earlier versions may hold raw control characters: cleaned here.
      if (into.length < RECENT) into.unshift(cleanEntry(v));
      if (allowed.length >= RECENT && refused.length >= RECENT) break;
    }
    return new AuditLog(db, lastSeq + 1, allowed, refused, onError);
  }

  /**
   * The newest entries here, oldest first, at most RECENT: refused and failed acts take at
   * most RECENT_REFUSALS places while allowed acts fill the others.
   */
  recent(): AuditEntry[] {
    const allowed = Math.min(this.newestAllowed.length, RECENT - Math.min(this.newestRefused.length, RECENT_REFUSALS));
    const refused = Math.min(this.newestRefused.length, RECENT - allowed);
    return [...this.newestAllowed.slice(this.newestAllowed.length - allowed), ...this.newestRefused.slice(this.newestRefused.length - refused)].sort((a, b) => a.seq - b.seq);
  }

  /**
   * Appends an entry; writes are ordered by their sequence number. A refused or failed act
   * may only be counted (undefined), its caller having been refused often in the last minute:
   * a summary entry follows when that minute ends.
   */
  async append(e: Omit<AuditEntry, 'seq' | 'at'>, now = new Date()): Promise<AuditEntry | undefined> {
    if (e.outcome !== 'ok' && !this.refusals.admit(e, now.getTime())) return undefined;
    return this.write(e, now);
  }

  private async write(e: Omit<AuditEntry, 'seq' | 'at'>, now: Date): Promise<AuditEntry> {
    const entry = cleanEntry({ ...e, seq: this.nextSeq++, at: now.toISOString() });
    // In memory in sequence order, whichever write finishes first; dropped again if it fails.
    const newest = entry.outcome === 'ok' ? this.newestAllowed : this.newestRefused;
    newest.push(entry);
    if (newest.length > RECENT) newest.shift();
    try {
      await this.db.put(key(entry.seq), entry);
    } catch (err) {
      const at = newest.indexOf(entry);
      if (at >= 0) newest.splice(at, 1);
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

  /** Writes the counts of refusals not yet summarized (the node stops); before the database closes. */
  async close(): Promise<void> {
    this.refusals.flush();
    await Promise.all(this.summaries);
  }
}
