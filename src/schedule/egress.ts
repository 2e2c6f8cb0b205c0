import { Transform, type TransformCallback } from 'node:stream';
import { PacedBudget } from './paced-budget.js';
import { sliceBytes, type RateBudget } from './rate-budget.js';

/**
 * Caps what a node sends: in total, and to each downstream node (`egress: { rate,
 * perChild }`). Every blob response passes through `throttle`, which takes each slice from
 * both budgets; reservations are first come first served, so children share fairly.
 */
export class EgressLimiter {
  private readonly total: RateBudget;
  private readonly perChild = new Map<string, PacedBudget>();

  constructor(
    totalBytesPerSec: number,
    private readonly perChildBytesPerSec: number,
  ) {
    this.total = new PacedBudget(totalBytesPerSec);
  }

  get limited(): boolean {
    return this.total.rateBytesPerSec !== Infinity || this.perChildBytesPerSec !== Infinity;
  }

  /** A pass-through that paces what flows to `peer` (a node name, or "endpoint"). */
  throttle(peer: string): Transform {
    const budgets: RateBudget[] = [this.total];
    if (peer !== 'endpoint' && this.perChildBytesPerSec !== Infinity) {
      let b = this.perChild.get(peer);
      if (!b) this.perChild.set(peer, (b = new PacedBudget(this.perChildBytesPerSec)));
      budgets.push(b);
    }
    const slice = Math.min(...budgets.map(sliceBytes));
    return new Transform({
      async transform(chunk: Buffer, _enc, done: TransformCallback) {
        try {
          for (let i = 0; i < chunk.length; i += slice) {
            const part = chunk.subarray(i, Math.min(chunk.length, i + slice));
            for (const b of budgets) await b.take(part.length);
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
