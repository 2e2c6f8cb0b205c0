import type { Dispatcher } from 'undici';
import type { Route, Source } from './want.js';

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
  ) {}

  async route(): Promise<Route> {
    return { name: this.name, url: this.url, ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}) };
  }

  succeeded(): void {}

  failed(): boolean {
    return false;
  }
}
