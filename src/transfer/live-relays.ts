import { EventEmitter } from 'node:events';
import type { LiveTransfer } from './live-transfer.js';

/**
 * The transfers receiving bytes now, which children may be relayed from (cut-through), and
 * the wait of a child's request for a wanted blob whose transfer is about to start.
 */
export class LiveRelays {
  private readonly live = new Map<string, LiveTransfer>();
  private readonly started = new EventEmitter();

  constructor() {
    this.started.setMaxListeners(0);
  }

  /** Announces `relay` once its first bytes are written (later calls change nothing). */
  announce(relay: LiveTransfer): void {
    if (this.live.has(relay.sha256)) return;
    this.live.set(relay.sha256, relay);
    this.started.emit(relay.sha256, relay);
  }

  /** Forgets `relay` (stored, failed or paused) unless another has replaced it. */
  end(relay: LiveTransfer): void {
    if (this.live.get(relay.sha256) === relay) this.live.delete(relay.sha256);
  }

  /** A small blob (fetched whole, never relayed while it arrives) is stored now. */
  stored(sha256: string): void {
    this.started.emit(`stored:${sha256}`);
  }

  /** Waits up to `waitMs` for a small blob being fetched to be stored. */
  waitStored(sha256: string, waitMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.started.off(`stored:${sha256}`, done);
        resolve();
      };
      const timer = setTimeout(done, waitMs);
      this.started.once(`stored:${sha256}`, done);
    });
  }

  /**
   * The live transfer of a blob, waiting up to `waitMs` for it to start when `wanted`; resolves
   * undefined as soon as the blob is stored instead (an empty blob writes no byte, so it is
   * never announced: its waiters would otherwise sit out the whole wait).
   */
  async get(sha256: string, waitMs: number, wanted: boolean): Promise<LiveTransfer | undefined> {
    const now = this.live.get(sha256);
    if (now || !wanted || waitMs <= 0) return now;
    return new Promise((resolve) => {
      const done = (live: LiveTransfer | undefined) => {
        clearTimeout(timer);
        this.started.off(sha256, done);
        this.started.off(`stored:${sha256}`, onStored);
        resolve(live);
      };
      const onStored = () => done(undefined);
      const timer = setTimeout(() => done(this.live.get(sha256)), waitMs);
      this.started.once(sha256, done);
      this.started.once(`stored:${sha256}`, onStored);
    });
  }
}

/** Whoever can relay a blob while it arrives: the replicator, the primary's vendor fetcher. */
export interface RelaySource {
  /** The live transfer of `sha256`, waiting up to `waitMs` for a wanted one to start. */
  liveTransfer(sha256: string, waitMs: number): Promise<LiveTransfer | undefined>;
}

/**
 * The node's relay sources, as the blob route asks them: sources join once they exist (the
 * replicator starts after the server listens), and a request asks each in turn.
 */
export class RelaySources implements RelaySource {
  private readonly sources: RelaySource[] = [];

  attach(source: RelaySource): void {
    this.sources.push(source);
  }

  async liveTransfer(sha256: string, waitMs: number): Promise<LiveTransfer | undefined> {
    for (const source of this.sources) {
      const live = await source.liveTransfer(sha256, waitMs);
      if (live) return live;
    }
    return undefined;
  }
}
