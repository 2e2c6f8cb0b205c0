import { LRUCache } from 'lru-cache';
import { SluiceError } from '../errors.js';

/**
 * Sign-ins begun with the identity provider and not yet back, by their state: at most `max`
 * for `ttlMs` each, and at most `perSource` from one source network (auth/address-prefix.ts);
 * when full, a source holding none is refused rather than another's evicted. An address past its
 * share drops its own oldest, never another's: starting a sign-in needs no credential, so
 * without the share one address could start sign-ins in a loop until every real sign-in in
 * progress was pushed out of the store and failed on its way back from the provider.
 */
export class PendingSignIns<T> {
  private readonly entries: LRUCache<string, { readonly value: T; readonly source: string }>;
  /** The states each source holds, oldest first; a source leaves with its last entry. */
  private readonly bySource = new Map<string, Set<string>>();

  constructor(
    readonly max = 1000,
    readonly perSource = 20,
    ttlMs = 10 * 60_000,
  ) {
    this.entries = new LRUCache({ max, ttl: ttlMs, dispose: (entry, state) => this.forget(entry.source, state) });
  }

  /** Throws TOO_MANY_ATTEMPTS when the store is full and `source` holds none to give up. */
  add(state: string, source: string, value: T): void {
    const mine = this.bySource.get(source) ?? new Set<string>();
    // Those past their time no longer count against the share.
    for (const s of mine) if (!this.entries.has(s)) mine.delete(s);
    const dropOldest = () => {
      const oldest = mine.values().next().value as string;
      mine.delete(oldest);
      this.entries.delete(oldest);
    };
    while (mine.size >= this.perSource) dropOldest();
    // Full: a source makes room from its own, never another's (many addresses together would
    // otherwise evict a real sign-in); one holding none is refused.
    if (this.entries.size >= this.max) {
      if (mine.size === 0) throw new SluiceError('TOO_MANY_ATTEMPTS', `${this.max} sign-ins are in progress at this node; try again in a few minutes`);
      dropOldest();
    }
    mine.add(state);
    this.bySource.set(source, mine);
    this.entries.set(state, { value, source });
  }

  /** The sign-in begun with `state`, removed: a state is used once. */
  take(state: string): T | undefined {
    const entry = this.entries.get(state);
    if (!entry) return undefined;
    this.entries.delete(state);
    return entry.value;
  }

  get size(): number {
    return this.entries.size;
  }

  private forget(source: string, state: string): void {
    const mine = this.bySource.get(source);
    if (!mine) return;
    mine.delete(state);
    if (mine.size === 0) this.bySource.delete(source);
  }
}
