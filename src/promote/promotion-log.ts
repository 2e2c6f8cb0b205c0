import type { Sublevel } from '../store/meta-db.js';
import { syncBatch } from '../store/meta-db.js';
import type { PromotionDecision } from '../reports/promotion-view.js';

export type { PromotionDecision } from '../reports/promotion-view.js';


const PREFIX = 'promotion:';
/** Decisions kept in memory for the API; all are kept on disk. */
const RECENT = 200;

/**
 * The primary's promotions, each with the gate and the per-site report figures it was
 * decided on, in its LevelDB next to the catalog: "why did broad get this?" is answered with
 * the numbers the rule read, not re-derived from reports that have moved on since.
 */
export class PromotionLog {
  private recentList: PromotionDecision[] = [];

  private constructor(
    private readonly root: Parameters<typeof syncBatch>[0],
    private readonly db: Sublevel,
  ) {}

  static async open(root: Parameters<typeof syncBatch>[0], db: Sublevel): Promise<PromotionLog> {
    const log = new PromotionLog(root, db);
    for await (const [, value] of db.iterator({ gte: PREFIX, lt: `${PREFIX}\uffff`, reverse: true, limit: RECENT }) as AsyncIterable<[string, PromotionDecision]>) log.recentList.push(value);
    return log;
  }

  async record(d: PromotionDecision): Promise<void> {
    await syncBatch(this.root, [{ type: 'put', sublevel: this.db, key: `${PREFIX}${String(d.seq).padStart(15, '0')}`, value: d }]);
    this.recentList = [d, ...this.recentList].slice(0, RECENT);
  }

  /** Newest first. */
  recent(): readonly PromotionDecision[] {
    return this.recentList;
  }
}
