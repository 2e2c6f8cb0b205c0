/** What the audit trail is told about one refused act. */
export interface RefusedAct {
  readonly who: string;
  readonly role: string | null;
  readonly via: string | null;
  readonly source: string;
  readonly act: string;
  readonly outcome: string;
}

/** Refused acts of one caller written one by one per window; the rest are counted. */
export const REFUSALS_WRITTEN_PER_CALLER = 5;
/** Refused acts written one by one per window over all callers; the rest are counted. */
export const REFUSALS_WRITTEN_PER_WINDOW = 100;
/** The window, ms. */
export const REFUSAL_WINDOW_MS = 60_000;
/** Callers counted at once; refusals of any further caller are counted together. */
export const CALLERS_TRACKED = 256;
/** Distinct act and outcome pairs named in one summary. */
const PAIRS_NAMED = 8;
/** The bucket of callers beyond CALLERS_TRACKED. */
const OVERFLOW = '\u0000others';

interface CallerWindow {
  readonly since: number;
  written: number;
  counted: number;
  /** "act outcome" → how many of those were counted (at most PAIRS_NAMED keys). */
  readonly pairs: Map<string, number>;
  readonly first: RefusedAct;
  source: string;
}

/**
 * Keeps a caller that keeps being refused from flooding the audit trail (its disk, and the
 * newest entries that climb the tree): per caller (a token's name; an address when the caller
 * proved no name) the first REFUSALS_WRITTEN_PER_CALLER refused acts of a window are written
 * as they happen, REFUSALS_WRITTEN_PER_WINDOW over all callers, and the rest only counted;
 * when the caller's window ends, one entry says how many more there were and of what. Memory
 * is bounded: at most CALLERS_TRACKED callers are counted apart, any others together.
 * Allowed acts never pass through here.
 */
export class RefusedActs {
  private readonly callers = new Map<string, CallerWindow>();
  private windowSince = 0;
  private writtenInWindow = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;

  constructor(
    /** Writes the summary of a window that counted refusals. */
    private readonly summarize: (entry: RefusedAct & { target: string }) => void,
    private readonly windowMs = REFUSAL_WINDOW_MS,
  ) {}

  /** True when `a` is to be written as it is; false when it was counted instead. */
  admit(a: RefusedAct, now = Date.now()): boolean {
    this.sweep(now);
    if (now - this.windowSince >= this.windowMs) {
      this.windowSince = now;
      this.writtenInWindow = 0;
    }
    let key = a.who !== '-' ? `who:${a.who}` : `source:${a.source}`;
    if (!this.callers.has(key) && this.callers.size >= CALLERS_TRACKED) key = OVERFLOW;
    let w = this.callers.get(key);
    if (!w) {
      w = { since: now, written: 0, counted: 0, pairs: new Map(), first: a, source: a.source };
      this.callers.set(key, w);
    }
    if (w.written < REFUSALS_WRITTEN_PER_CALLER && this.writtenInWindow < REFUSALS_WRITTEN_PER_WINDOW) {
      w.written++;
      this.writtenInWindow++;
      return true;
    }
    w.counted++;
    w.source = a.source;
    const pair = `${a.act}\u0000${a.outcome}`;
    if (w.pairs.has(pair) || w.pairs.size < PAIRS_NAMED) w.pairs.set(pair, (w.pairs.get(pair) ?? 0) + 1);
    this.wakeAt(w.since + this.windowMs);
    return false;
  }

  /** Summaries of every window still counting, whether or not it has ended (the node stops). */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.timerDue = Infinity;
    for (const [key, w] of this.callers) this.end(key, w);
  }

  /** Ends the windows that are over: their summaries are written, their memory freed. */
  private sweep(now: number): void {
    for (const [key, w] of this.callers) if (now - w.since >= this.windowMs) this.end(key, w);
  }

  private end(key: string, w: CallerWindow): void {
    this.callers.delete(key);
    if (w.counted === 0) return;
    const pairs = [...w.pairs].map(([pair, n]) => `${pair.replace('\u0000', ' ')} ×${n}`);
    const named = [...w.pairs.values()].reduce((a, b) => a + b, 0);
    if (named < w.counted) pairs.push(`others ×${w.counted - named}`);
    // One kind of refusal keeps its act and outcome; a mixture is "several" (the target lists them).
    const only = w.pairs.size === 1 && named === w.counted ? [...w.pairs.keys()][0]!.split('\u0000') : undefined;
    const who = key === OVERFLOW ? 'other callers' : w.first.who;
    const seconds = Math.round(this.windowMs / 1000);
    this.summarize({
      who: key === OVERFLOW ? '-' : w.first.who,
      role: key === OVERFLOW ? null : w.first.role,
      via: key === OVERFLOW ? null : w.first.via,
      source: key === OVERFLOW ? 'several' : w.source,
      act: only?.[0] ?? 'several',
      outcome: only?.[1] ?? 'several',
      target: `${w.counted} more refusals by ${who} within ${seconds} s of ${new Date(w.since).toISOString()}: ${pairs.join(', ')}`,
    });
  }

  /** A sweep at `due` (ms since the epoch) unless one is due sooner; nothing is armed while nothing is counted. */
  private wakeAt(due: number): void {
    if (due >= this.timerDue) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      const now = Date.now();
      this.sweep(now);
      for (const w of this.callers.values()) if (w.counted > 0) this.wakeAt(w.since + this.windowMs);
    }, Math.max(0, due - Date.now())).unref();
  }
}
