import type { Dispatcher } from 'undici';
import type { DownloadTarget } from '../store/download.js';
import { fetchBlob } from './fetch-blob.js';
import { fetchSmallBlob } from './fetch-small-blob.js';
import type { Attempt, BytesFrom, FetchOutcome, Route, Source, Want } from './want.js';

/**
 * A file at a plain URL as the source of a blob: a vendor's repository, whose pool files are
 * immutable by name (the primary takes approved feed packages from there). Its bytes are
 * verified against the catalog like any others; a 404 is a failure like any other (backed
 * off), not "not yet".
 */
export class UrlSource implements Source {
  readonly notFoundIsTransient = false;

  constructor(
    /** Shown in status and metrics (`feed:NAME`). */
    readonly name: string,
    readonly url: string,
    /** The connection pool to use (the vendor's: HTTP(S)_PROXY applies). */
    private readonly dispatcher?: Dispatcher,
    /** What the file must pass beyond its sha256 (Source.check). */
    readonly check?: (bytes: BytesFrom, want: Want) => Promise<void>,
  ) {}

  async route(): Promise<Route> {
    return { name: this.name, url: this.url, ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}) };
  }

  fetch(route: Route, download: DownloadTarget, a: Attempt): Promise<FetchOutcome> {
    return fetchBlob({ partial: download, route, selfName: '', dispatcher: route.dispatcher, budget: a.budget, signal: a.signal, ...a.tuning, deferSync: a.deferSync, onResume: a.onResume, onProgress: a.onProgress, onBytes: a.onBytes });
  }

  fetchWhole(route: Route, want: Want, a: Pick<Attempt, 'budget' | 'signal' | 'tuning' | 'onBytes'>): Promise<Buffer> {
    return fetchSmallBlob({ sha256: want.sha256, size: want.size, route, selfName: '', dispatcher: route.dispatcher, budget: a.budget, signal: a.signal, stallMs: a.tuning.stallMs, onBytes: a.onBytes });
  }

  succeeded(): void {}

  failed(): boolean {
    return false;
  }
}
