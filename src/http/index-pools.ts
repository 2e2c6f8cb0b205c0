/**
 * Per signed index of a ring's repository (APT or dnf), keyed by its catalog record's seq: the
 * pool paths its package list names, read once from the verified blob and kept while the
 * catalog still lists that index, so a ring's pool serves only what its indexes name without
 * re-reading them on every request. A read that fails is forgotten and tried again next time.
 */
export class IndexPools {
  private readonly bySeq = new Map<number, Promise<ReadonlySet<string>>>();

  /** `listed`: the seqs of every index still listed; asked only when a new index is read, to drop the others. */
  get(seq: number, read: () => Promise<ReadonlySet<string>>, listed: () => ReadonlySet<number>): Promise<ReadonlySet<string>> {
    let p = this.bySeq.get(seq);
    if (!p) {
      p = read().catch((err: unknown) => {
        this.bySeq.delete(seq);
        throw err;
      });
      this.bySeq.set(seq, p);
      const keep = listed();
      for (const s of this.bySeq.keys()) if (!keep.has(s)) this.bySeq.delete(s);
    }
    return p;
  }
}
