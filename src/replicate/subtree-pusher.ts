import { randomUUID } from 'node:crypto';
import { request } from 'undici';
import type { Logger } from '../log/logger.js';
import type { NodeSpec } from '../topology/types.js';
import { NODE_HEADER } from '../protocol/headers.js';
import type { PeerClient } from '../protocol/peer-client.js';
import type { PushedEntry, SubtreePush } from '../protocol/subtree-push.js';


/**
 * An unchanged entry is sent again after this long anyway, so fields left out of the change
 * key (the time a status was taken, the last catalog sync) are never older than this above.
 */
export const REFRESH_MS = 10 * 60_000;

interface Acked {
  readonly upstream: string;
  readonly seq: number;
  /** Per node: its change key and when it was last sent. */
  readonly sent: Map<string, { key: string; at: number }>;
}

/**
 * Pushes this node's subtree (statuses, report figures) to its current upstream every
 * `everyMs`, as changes on the last push the upstream acknowledged (subtree-push.ts): an
 * idle tree costs each upstream a few hundred bytes per push, whatever its size. After a
 * failure, an upstream switch or a 409 the next push is whole.
 */
export class SubtreePusher<V> {
  private timer: NodeJS.Timeout | undefined;
  private tick: (() => Promise<void>) | undefined;
  private pushing = false;
  private wantedSoon = false;
  private lastPushAt = 0;
  /** When the next push is due. */
  private nextAt: number | undefined;
  private failing = false;
  /** The last push was answered 403. */
  private refused = false;
  private readonly epoch = randomUUID();
  private seq = 0;
  private acked: Acked | undefined;

  constructor(
    private readonly o: {
      readonly self: NodeSpec;
      readonly upstream: () => { name: string; url: string };
      readonly peerToken: string | undefined;
      readonly route: string;
      readonly everyMs: number;
      readonly client: PeerClient;
      readonly log: Logger;
      /** This node and everything below it, by name. */
      readonly collect: () => Map<string, PushedEntry<V>>;
      /** What must change for an entry to be sent again before REFRESH_MS. */
      readonly changeKey: (value: V) => string;
      /**
       * After the upstream refused a push outright (403: it will not take this kind of push
       * from this node), the next one waits this long rather than `everyMs`. Default `everyMs`.
       */
      readonly refusedRetryMs?: number;
    },
  ) {}

  private readonly stopped = new AbortController();

  start(): void {
    // Over HTTPS the node's certificate proves who it is; a token is for plain HTTP.
    if (!this.o.peerToken && !this.o.upstream().url.startsWith('https:')) {
      this.o.log.warn(`SLUICE_PEER_TOKEN is not set and the upstream is plain HTTP: this node will not push ${this.o.route} upstream`);
      return;
    }
    this.tick = async () => {
      this.pushing = true;
      this.lastPushAt = Date.now();
      try {
        await this.pushOnce();
      } finally {
        this.pushing = false;
      }
      if (this.timer === undefined) return;
      const wanted = this.wantedSoon;
      this.wantedSoon = false;
      this.at(this.refused && this.o.refusedRetryMs !== undefined ? this.o.refusedRetryMs : wanted ? this.minGapMs() : this.o.everyMs);
    };
    this.at(0);
  }

  /** The next push, `ms` from now. */
  private at(ms: number): void {
    clearTimeout(this.timer);
    this.nextAt = Date.now() + ms;
    this.timer = setTimeout(() => void this.tick?.(), ms).unref();
  }

  /**
   * Something worth telling the upstream now (new catalog records here, a child's news): the
   * next push goes out a second from now (and from the last push), not at the next tick, so
   * news crosses each tier in a second or two instead of up to `everyMs`. Nothing on a
   * timer: an idle node still pushes only every `everyMs`.
   */
  soon(): void {
    if (this.timer === undefined || !this.tick) return;
    if (this.pushing) {
      this.wantedSoon = true;
      return;
    }
    // At least a gap after the news too: news comes in bursts (a catalog record reaches every
    // node of the tree within a second), and pushes sent at once would compete with it.
    const at = Math.max(this.lastPushAt + this.minGapMs(), Date.now() + this.minGapMs());
    if (this.nextAt !== undefined && this.nextAt <= at) return;
    this.at(at - Date.now());
  }

  private minGapMs(): number {
    return Math.min(1000, this.o.everyMs);
  }

  /** Stops pushing; a push in flight is abandoned quietly (a stopping node is not "failing"). */
  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.stopped.abort();
  }

  /** One push; a 409 (the upstream lost the base) is followed at once by a whole push. */
  async pushOnce(): Promise<void> {
    if ((await this.send()) === 409) await this.send();
  }

  private async send(): Promise<number | undefined> {
    const peer = this.o.upstream();
    const now = Date.now();
    this.refused = false;
    const base = this.acked?.upstream === peer.name ? this.acked : undefined;
    const current = this.o.collect();
    const sent = new Map<string, { key: string; at: number }>();
    const push: SubtreePush<V> = { node: this.o.self.name, epoch: this.epoch, seq: ++this.seq, base: base?.seq ?? null, entries: {}, removed: [], stale: [] };
    for (const [name, e] of current) {
      const key = `${e.parent ?? ''}\u0000${this.o.changeKey(e.value)}`;
      const before = base?.sent.get(name);
      if (before && before.key === key && now - before.at < REFRESH_MS) sent.set(name, before);
      else {
        push.entries[name] = { parent: e.parent, value: e.value };
        sent.set(name, { key, at: now });
      }
      if (e.stale) push.stale.push(name);
    }
    for (const name of base?.sent.keys() ?? []) if (!current.has(name)) push.removed.push(name);
    try {
      const res = await request(`${peer.url}${this.o.route}`, {
        method: 'POST',
        dispatcher: this.o.client.dispatcher,
        headers: { 'content-type': 'application/json', ...(this.o.peerToken ? { authorization: `Bearer ${this.o.peerToken}` } : {}), [NODE_HEADER]: this.o.self.name },
        body: JSON.stringify(push),
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
        signal: this.stopped.signal,
      });
      const text = await res.body.text();
      this.refused = res.statusCode === 403;
      if (res.statusCode === 409) {
        this.acked = undefined;
        return 409;
      }
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode} ${text.slice(0, 200)}`);
      this.acked = { upstream: peer.name, seq: push.seq, sent };
      if (this.failing) this.o.log.info({ peer: peer.name, route: this.o.route }, 'pushes reach the upstream again');
      this.failing = false;
      return 200;
    } catch (err) {
      // Whether it arrived is unknown: the next push is whole.
      this.acked = undefined;
      if (this.stopped.signal.aborted) return undefined;
      if (!this.failing) this.o.log.warn({ peer: peer.name, route: this.o.route, err: (err as Error).message }, 'cannot push to the upstream');
      this.failing = true;
      return undefined;
    }
  }
}
