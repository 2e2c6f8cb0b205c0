import type { BatchOp, MetaDb, Sublevel } from './meta-db.js';
import { sublevels, syncBatch } from './meta-db.js';
import type { Checkpoint, CheckpointStore } from './partial-file.js';

/**
 * Durable progress of partial downloads, in LevelDB. An offset is recorded only after the
 * bytes before it were fsynced, so after any crash the partial file holds at least that many
 * good bytes; anything beyond is cut off and fetched again.
 */
export class LevelCheckpoints implements CheckpointStore {
  private readonly db: Sublevel;

  constructor(private readonly root: MetaDb) {
    this.db = sublevels(root).state;
  }

  private key(sha256: string): string {
    return `partial:${sha256}`;
  }

  async get(sha256: string): Promise<Checkpoint | undefined> {
    return (await this.db.get(this.key(sha256))) as Checkpoint | undefined;
  }

  async set(sha256: string, offset: number): Promise<void> {
    await syncBatch(this.root, [{ type: 'put', sublevel: this.db, key: this.key(sha256), value: { offset, updatedAt: Date.now() } satisfies Checkpoint }]);
  }

  async delete(sha256: string): Promise<void> {
    await syncBatch(this.root, [this.deleteOp(sha256)]);
  }

  /** For committing a finished blob and forgetting its checkpoint in one batch. */
  deleteOp(sha256: string): BatchOp {
    return { type: 'del', sublevel: this.db, key: this.key(sha256) };
  }

  async all(): Promise<Map<string, Checkpoint>> {
    const out = new Map<string, Checkpoint>();
    for await (const [key, value] of this.db.iterator({ gte: 'partial:', lt: 'partial;' }) as AsyncIterable<[string, Checkpoint]>) out.set(key.slice('partial:'.length), value);
    return out;
  }
}
