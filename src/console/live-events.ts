import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import type { StatusJson } from '../protocol/status-text.js';
import { treeFragment } from './views/tree.js';
import type { ConsoleDeps, LiveTopicName } from './view-context.js';

/**
 * What a page may listen to: `tree` carries the tree's HTML; the others only say "changed"
 * (`holdings`: what some node holds or still fetches, as its status says).
 */
export const LIVE_TOPICS = ['tree', 'catalog', 'reports', 'holdings'] as const satisfies readonly LiveTopicName[];
export type LiveTopic = (typeof LIVE_TOPICS)[number];

/** Open live connections per node; past this a page gets 503 and keeps its last view. */
const MAX_SUBSCRIBERS = 200;
/** How often watched topics are rendered and sent when they changed. */
export const TICK_MS = 1000;
/** A comment line this often keeps proxies and the idle timeout from cutting a quiet stream. */
const HEARTBEAT_MS = 15_000;
/**
 * A page that does not read (a stalled tab, a client gone silent) is skipped once this much
 * waits for it: it gets the newest state when it drains, and the connection's idle timeout
 * ends it if it never does. Without this each tick would queue another copy of the tree.
 */
export const BACKLOG_LIMIT_BYTES = 64 * 1024;

interface Subscriber {
  readonly stream: PassThrough;
  readonly topics: ReadonlySet<LiveTopic>;
  /** The version of each topic this page last saw: from its URL (what it was rendered with), then what was sent. */
  readonly seen: Map<LiveTopic, string>;
}

/**
 * Server-sent events for the console. One timer, running only while someone listens, looks
 * at the node once a second and sends a topic to each page whose version of it differs: the
 * tree is rendered once per tick however many pages watch it. A page states in its URL the
 * versions it was rendered with, so a change between the render and the connection is sent
 * at the first tick instead of being lost.
 */
export class LiveEvents {
  private readonly subscribers = new Set<Subscriber>();
  private timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(private readonly deps: Pick<ConsoleDeps, 'status' | 'catalog' | 'rollup'> & { readonly onError?: (err: unknown) => void }) {}

  get full(): boolean {
    return this.subscribers.size >= MAX_SUBSCRIBERS;
  }

  /** A stream of `text/event-stream` for these topics; it ends when the client goes or the node closes. */
  subscribe(topics: ReadonlySet<LiveTopic>, seen: ReadonlyMap<string, string>): PassThrough {
    const stream = new PassThrough();
    const sub: Subscriber = { stream, topics, seen: new Map([...topics].filter((t) => seen.has(t)).map((t) => [t, seen.get(t)!])) };
    this.subscribers.add(sub);
    const drop = () => {
      this.subscribers.delete(sub);
      if (this.subscribers.size === 0) this.stop();
    };
    stream.on('close', drop);
    stream.on('error', drop);
    stream.write('retry: 3000\n\n');
    this.start();
    return stream;
  }

  /** Ends every stream (the node is closing: no request may outlive the drain). */
  close(): void {
    for (const s of this.subscribers) s.stream.end();
    this.subscribers.clear();
    this.stop();
  }

  private start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.heartbeat = setInterval(() => {
      for (const s of this.subscribers) if (s.stream.writableLength <= BACKLOG_LIMIT_BYTES) s.stream.write(': keep-alive\n\n');
    }, HEARTBEAT_MS);
    this.timer.unref();
    this.heartbeat.unref();
  }

  private stop(): void {
    clearInterval(this.timer);
    clearInterval(this.heartbeat);
    this.timer = undefined;
    this.heartbeat = undefined;
  }

  /**
   * A timer callback that throws takes the whole process down: whatever goes wrong while
   * reading or rendering a topic is logged and skipped, and the next tick tries again.
   */
  private tick(): void {
    try {
      this.send();
    } catch (err) {
      this.deps.onError?.(err);
    }
  }

  private send(): void {
    const current = new Map<LiveTopic, { version: string; value: string }>();
    for (const s of this.subscribers) {
      if (s.stream.writableLength > BACKLOG_LIMIT_BYTES) continue;
      for (const topic of s.topics) {
        let now = current.get(topic);
        if (!now) current.set(topic, (now = this.read(topic)));
        if (s.seen.get(topic) === now.version) continue;
        s.seen.set(topic, now.version);
        s.stream.write(frame(topic, topic === 'tree' ? now.value : now.version));
      }
    }
  }

  /** A topic's version now (what a page rendered now would show): short digest, or the catalog position. */
  version(topic: LiveTopic): string {
    return this.read(topic).version;
  }

  private read(topic: LiveTopic): { version: string; value: string } {
    if (topic === 'catalog') {
      const seq = String(this.deps.catalog.seq);
      return { version: seq, value: seq };
    }
    const value = topic === 'tree' ? treeFragment(this.deps.status() as StatusJson, Date.now()).text : topic === 'holdings' ? holdingsOf(this.deps.status() as StatusJson) : JSON.stringify(this.deps.rollup.subtree());
    return { version: createHash('sha256').update(value).digest('base64url').slice(0, 16), value };
  }
}

/**
 * The part of every node's status that says what it holds: its catalog position and what is
 * pending. Transfer progress and times are left out, so a page following this re-renders when
 * a package arrives, not every second while bytes move.
 */
function holdingsOf(root: StatusJson): string {
  const out: unknown[] = [];
  const walk = (name: string, s: StatusJson | null) => {
    out.push(s ? [name, s.catalog.seq, s.pending.blobs, s.pending.packages ?? null, s.pending.morePackages ?? null, s.stale ?? false] : [name, null]);
    for (const [kid, ks] of Object.entries(s?.children ?? {})) walk(kid, ks);
  };
  walk(root.node, root);
  return JSON.stringify(out);
}

/**
 * One SSE frame: every line of the data gets its own `data:` field. CR, LF and CRLF all end
 * a line in an event stream, so each is split on: a CR left inside pushed text would start
 * a field of the attacker's choosing in the browser.
 */
export function frame(event: string, data: string): string {
  return `event: ${event}\n${data.split(/\r\n|\r|\n/).map((l) => `data: ${l}`).join('\n')}\n\n`;
}
