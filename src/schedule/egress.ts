import { Transform, type TransformCallback } from 'node:stream';
import { PacedBudget } from './paced-budget.js';
import { sliceBytes, type RateBudget } from './rate-budget.js';

/**
 * Caps what a node sends: in total, and to each downstream node (`egress: { rate,
 * perChild }`). Every blob response passes through `throttle`, which takes each slice from
 * both budgets; reservations are first come first served, so children share fairly.
 */
/** A pace a child asked for lapses this long after its last request (it left its background window, or went away). */
export const PACE_TTL_MS = 2000;

export class EgressLimiter {
  private readonly total: RateBudget;
  private readonly perChild = new Map<string, PacedBudget>();
  /** Paces children asked for (background mode): the sender paces, so the bottleneck sees a smooth flow. */
  private readonly paces = new Map<string, { budget: PacedBudget; until: number }>();

  constructor(
    totalBytesPerSec: number,
    private readonly perChildBytesPerSec: number,
  ) {
    this.total = new PacedBudget(totalBytesPerSec);
  }

  get limited(): boolean {
    return this.total.rateBytesPerSec !== Infinity || this.perChildBytesPerSec !== Infinity;
  }

  /** Whether any cap or pace is in force: otherwise nobody's identity matters for egress. */
  get active(): boolean {
    return this.limited || this.paces.size > 0;
  }

  /** Whether what goes to `peer` must pass `throttle`: a cap, or a pace it asked for. */
  limitedFor(peer: string): boolean {
    return this.limited || this.paceOf(peer) !== undefined;
  }

  /**
   * A downstream node in background mode asks to be sent at `rateBytesPerSec` (0: no pace).
   * Its own reads are paced too, but a receiver that only reads slowly makes the sender's TCP
   * send in bursts whenever the window reopens, and the bursts queue at the bottleneck: the
   * very delay background mode steers by. Renewed by every request; lapses after PACE_TTL_MS.
   */
  pace(peer: string, rateBytesPerSec: number, now = Date.now()): void {
    if (!(rateBytesPerSec > 0) || !Number.isFinite(rateBytesPerSec)) {
      this.paces.delete(peer);
      return;
    }
    const entry = this.paces.get(peer);
    if (entry) {
      entry.budget.setRate(rateBytesPerSec);
      entry.until = now + PACE_TTL_MS;
    } else this.paces.set(peer, { budget: new PacedBudget(rateBytesPerSec), until: now + PACE_TTL_MS });
  }

  private paceOf(peer: string, now = Date.now()): PacedBudget | undefined {
    const entry = this.paces.get(peer);
    if (!entry) return undefined;
    if (entry.until < now) {
      this.paces.delete(peer);
      return undefined;
    }
    return entry.budget;
  }

  /** A pass-through that paces what flows to `peer` (a node name, or "endpoint"). */
  throttle(peer: string): Transform {
    const budgets: RateBudget[] = [this.total];
    if (peer !== 'endpoint' && this.perChildBytesPerSec !== Infinity) {
      let b = this.perChild.get(peer);
      if (!b) this.perChild.set(peer, (b = new PacedBudget(this.perChildBytesPerSec)));
      budgets.push(b);
    }
    const paceOf = (p: string) => this.paceOf(p);
    return new Transform({
      async transform(chunk: Buffer, _enc, done: TransformCallback) {
        try {
          // The pace is looked up per chunk: it changes, appears and lapses during a transfer.
          const pace = peer === 'endpoint' ? undefined : paceOf(peer);
          const active = pace ? [...budgets, pace] : budgets;
          const slice = Math.min(...active.map(sliceBytes));
          for (let i = 0; i < chunk.length; i += slice) {
            const part = chunk.subarray(i, Math.min(chunk.length, i + slice));
            for (const b of active) await b.take(part.length);
            this.push(part);
          }
          done();
        } catch (err) {
          done(err as Error);
        }
      },
    });
  }
}
