import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { CriticalLane, ScheduleWindow } from '../topology/types.js';
import { formatRate } from '../topology/units.js';
import { PacedBudget } from './paced-budget.js';
import { UNLIMITED_BUDGET, type RateBudget } from './rate-budget.js';
import { activeWindow, nextChange } from './windows.js';
import { BackgroundRate, type BackgroundState } from './background-rate.js';

export interface ScheduleState {
  readonly rateBytesPerSec: number;
  /** Index and text of the active window, and its rate as written; null when none matches (nothing moves). */
  readonly window: { readonly index: number; readonly label: string; readonly rate: string } | null;
  readonly nextChangeAt: string | null;
  /** In a `rate: background` window: the rate chosen from the path's delay, and why. */
  readonly background: BackgroundState | null;
}

/**
 * Sets a node's ingress budget from its schedule: the first window matching the local time
 * in the region's timezone. Re-evaluated at every local minute (windows start and end on
 * whole minutes), so running transfers continue at the new rate as soon as a window turns.
 * Critical packages use their own lane: unlimited (`bypass`), a fixed rate, or the schedule.
 */
/**
 * How much faster than the background rate the node reads, the upstream pacing its sending at
 * the rate itself; with an upstream of an earlier version (no /v1/pace), the bound.
 */
const RECEIVE_SLACK = 1.2;

export class ScheduleController {
  readonly budget: PacedBudget;
  readonly criticalBudget: RateBudget;
  private timer: NodeJS.Timeout | undefined;
  private lastIndex: number | undefined = -2;
  private state: ScheduleState = { rateBytesPerSec: 0, window: null, nextChangeAt: null, background: null };
  private background: { cap: number; rate: BackgroundRate } | undefined;

  constructor(
    private readonly schedule: readonly ScheduleWindow[],
    private readonly timezone: string,
    critical: CriticalLane,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** The path's delay to the upstream now, ms (background windows), asking it to send at the given rate; undefined: no answer. */
    private readonly probe: (rateBytesPerSec: number) => Promise<number | undefined> = async () => undefined,
  ) {
    this.budget = new PacedBudget(0);
    this.criticalBudget = critical.kind === 'bypass' ? UNLIMITED_BUDGET : critical.kind === 'rate' ? new PacedBudget(critical.rateBytesPerSec) : this.budget;
  }

  start(): void {
    this.evaluate();
    const tick = () => {
      this.evaluate();
      this.timer = setTimeout(tick, 60_000 - (this.now() % 60_000) + 5).unref();
    };
    this.timer = setTimeout(tick, 60_000 - (this.now() % 60_000) + 5).unref();
  }

  close(): void {
    clearTimeout(this.timer);
    this.background?.rate.stop();
  }

  get current(): ScheduleState {
    const bg = this.background?.rate.state;
    return bg ? { ...this.state, rateBytesPerSec: bg.rateBytesPerSec, background: bg } : this.state;
  }

  /**
   * The schedule as the forecast should read it: a background window at the rate it has
   * been getting lately (an estimate: what is spare changes by the minute), not its max.
   */
  forecastSchedule(): readonly ScheduleWindow[] {
    const bg = this.background?.rate.state;
    if (!this.schedule.some((w) => w.background)) return this.schedule;
    return this.schedule.map((w) => (w.background ? { ...w, rateBytesPerSec: bg?.rateBytesPerSec ?? Math.min(w.rateBytesPerSec, 256 * 1024) } : w));
  }

  /** Applies the window active at `at` (the clock's now by default). */
  evaluate(at = new Date(this.now())): ScheduleState {
    const active = activeWindow(this.schedule, this.timezone, at);
    let rate = active?.window.rateBytesPerSec ?? 0;
    if (active?.window.background) {
      // The controller owns the budget's rate while the window lasts.
      if (this.background?.cap !== rate) {
        this.background?.rate.stop();
        // The callback runs once inside the constructor, before `controller` is assigned.
        let controller: BackgroundRate | undefined;
        controller = new BackgroundRate(rate, this.probe, (r) => {
          // The upstream paces what it sends at r (GET /v1/pace): reading with some slack
          // leaves it the only pacer, instead of two pacers in a row each losing a little.
          this.budget.setRate(r * RECEIVE_SLACK);
          this.metrics.backgroundRate.set(r);
          const s = controller?.state;
          if (s?.baseDelayMs != null) this.metrics.pathDelay.set({ kind: 'base' }, s.baseDelayMs / 1000);
          if (s?.delayMs != null) this.metrics.pathDelay.set({ kind: 'current' }, s.delayMs / 1000);
        });
        this.background = { cap: rate, rate: controller };
        controller.start();
      }
      rate = this.background.rate.state.rateBytesPerSec;
    } else {
      this.background?.rate.stop();
      this.background = undefined;
      this.metrics.backgroundRate.set(0);
      this.budget.setRate(rate);
    }
    const next = nextChange(this.schedule, this.timezone, at);
    this.state = { rateBytesPerSec: rate, window: active ? { index: active.index, label: active.window.label, rate: active.window.rateText } : null, nextChangeAt: next?.toISOString() ?? null, background: this.background?.rate.state ?? null };
    this.metrics.rateLimit.set(rate === Infinity ? -1 : rate);
    this.metrics.scheduleWindow.set(active?.index ?? -1);
    if (active?.index !== this.lastIndex) {
      this.lastIndex = active?.index;
      this.log.info({ window: this.state.window?.label ?? null, rate: active?.window.rateText ?? formatRate(rate), until: this.state.nextChangeAt }, active ? 'schedule window active' : 'no schedule window matches: transfers wait');
    }
    return this.state;
  }
}
