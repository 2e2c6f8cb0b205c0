import { createHash } from 'node:crypto';
import { SluiceError } from '../../src/errors.js';
import { TransferPaused } from '../../src/download/fetch-blob.js';
import type { DownloadTarget } from '../../src/store/download.js';
import type { Attempt, BatchFetcher, FetchOutcome, Route, Source, Want } from '../../src/download/want.js';

interface Gate {
  promise: Promise<void>;
  open: () => void;
}

function gate(): Gate {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

/** Rejects with an AbortError once `signal` aborts. */
function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) return reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/**
 * A source of blobs held in memory, for module tests of the downloader: no network, no
 * timing. The test says what each attempt does — hand over the blob, fail with a given
 * error, pause, or (`hold`) write the first half of a large blob and wait until the test
 * lets it finish — and reads what happened: attempts in the order begun, faults blamed.
 */
export class FakeSource implements Source {
  /** The blobs it can give, by sha256. */
  readonly blobs = new Map<string, Buffer>();
  /** Every attempt in the order begun. */
  readonly started: { sha256: string; kind: 'fetch' | 'whole' | 'batch'; route: string }[] = [];
  /** Errors the next attempts at a blob fail with, in order. */
  readonly failures = new Map<string, SluiceError[]>();
  /** Blobs whose next attempt sends other bytes (they fail verification). */
  readonly corrupt = new Set<string>();
  /** Attempts stop half-way (large) or before answering (small) until `let` is called. */
  hold = false;
  /** Routes blamed for a failure, in order. */
  readonly blamed: string[] = [];
  readonly succeededRoutes: string[] = [];
  /** Set: a closed window (attempts pause). */
  paused = false;
  private readonly gates = new Map<string, Gate>();
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  constructor(
    readonly name = 'upstream',
    readonly notFoundIsTransient = true,
    readonly batches?: BatchFetcher,
  ) {}

  /** Lets the held attempt at `sha256` (and later ones) go on. */
  let(sha256: string): void {
    this.gateOf(sha256).open();
  }

  /** Resolves with the blobs of the first `count` attempts, once that many have begun. */
  async untilStarted(count: number): Promise<string[]> {
    if (this.started.length < count) await new Promise<void>((resolve) => this.waiters.push({ count, resolve }));
    return this.started.slice(0, count).map((s) => s.sha256);
  }

  async route(): Promise<Route> {
    return { name: this.name, node: 'http://fake.invalid' };
  }

  async fetch(route: Route, download: DownloadTarget, a: Attempt): Promise<FetchOutcome> {
    const sha = download.sha256;
    this.begin(sha, 'fetch', route);
    const fail = this.failures.get(sha)?.shift();
    if (fail) throw fail;
    const bytes = this.bytesOf(sha);
    const resume = await download.resumePoint(a.signal);
    a.onResume(resume.offset);
    if (this.paused || a.budget.rateBytesPerSec === 0) throw new TransferPaused(resume.offset);
    const sink = await download.openForWrite(resume.offset);
    try {
      const half = Math.max(resume.offset, bytes.length >> 1);
      await this.write(sink, bytes, resume.offset, half, a);
      if (this.hold) await Promise.race([this.gateOf(sha).promise, aborted(a.signal)]);
      await this.write(sink, bytes, half, bytes.length, a);
      await sink.sync();
    } finally {
      await sink.close();
    }
    if (createHash('sha256').update(bytes).digest('hex') !== sha) {
      await download.discard();
      throw new SluiceError('HASH_MISMATCH', `blob ${sha.slice(0, 12)}… from ${route.name}: other bytes; discarded`);
    }
    return { resumedFrom: resume.offset, received: bytes.length - resume.offset };
  }

  async fetchWhole(route: Route, want: Want, a: Pick<Attempt, 'budget' | 'signal' | 'tuning' | 'onBytes'>): Promise<Buffer> {
    this.begin(want.sha256, 'whole', route);
    const fail = this.failures.get(want.sha256)?.shift();
    if (fail) throw fail;
    if (this.hold) await Promise.race([this.gateOf(want.sha256).promise, aborted(a.signal)]);
    const bytes = this.bytesOf(want.sha256);
    a.onBytes(bytes.length);
    return bytes;
  }

  succeeded(route: Route): void {
    this.succeededRoutes.push(route.name);
  }

  failed(route: Route): boolean {
    this.blamed.push(route.name);
    return false;
  }

  /** Records an attempt of a batch (FakeBatches). */
  begin(sha256: string, kind: 'fetch' | 'whole' | 'batch', route: Route): void {
    this.started.push({ sha256, kind, route: route.name });
    for (const w of [...this.waiters]) {
      if (this.started.length < w.count) continue;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      w.resolve();
    }
  }

  bytesOf(sha256: string): Buffer {
    const bytes = this.blobs.get(sha256);
    if (!bytes) throw new SluiceError('BLOB_NOT_FOUND', `blob ${sha256.slice(0, 12)}… from ${this.name}: the peer does not hold it`);
    if (!this.corrupt.delete(sha256)) return bytes;
    const other = Buffer.from(bytes);
    other[0] = other[0]! ^ 0xff;
    return other;
  }

  private gateOf(sha256: string): Gate {
    let g = this.gates.get(sha256);
    if (!g) this.gates.set(sha256, (g = gate()));
    return g;
  }

  private async write(sink: Awaited<ReturnType<DownloadTarget['openForWrite']>>, bytes: Buffer, from: number, to: number, a: Attempt): Promise<void> {
    if (to <= from) return;
    await sink.write(bytes, from, to - from, from);
    a.onBytes(to - from);
    a.onProgress(to);
  }
}

/** Batches of a FakeSource: each request's blobs in the order asked, answered from its blobs. */
export class FakeBatches implements BatchFetcher {
  readonly requests: string[][] = [];
  source!: FakeSource;

  supports(): boolean {
    return true;
  }

  async fetchBatch(route: Pick<Route, 'name'>, items: readonly { sha256: string; size: number }[], _signal: AbortSignal, onBlob: (sha256: string, outcome: Buffer | SluiceError) => void): Promise<void> {
    this.requests.push(items.map((i) => i.sha256));
    for (const item of items) {
      this.source.begin(item.sha256, 'batch', { name: route.name });
      try {
        onBlob(item.sha256, this.source.bytesOf(item.sha256));
      } catch (err) {
        onBlob(item.sha256, err as SluiceError);
      }
    }
  }
}
