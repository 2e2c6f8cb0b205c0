import { Readable } from 'node:stream';
import { request, type Dispatcher } from 'undici';
import { ERROR_CATALOGUE, SluiceError, type ErrorCode } from '../errors.js';

/**
 * A thin client for a node's /v1 API, used by the CLI. Server errors come back as the same
 * SluiceError codes the node produced; a node that cannot be reached says how to start one.
 */
export class ApiClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string | undefined,
    private readonly dispatcher?: Dispatcher,
  ) {}

  async getJson<T>(pathAndQuery: string): Promise<T> {
    return this.call<T>('GET', pathAndQuery);
  }

  async postJson<T>(pathAndQuery: string, body: unknown): Promise<T> {
    return this.call<T>('POST', pathAndQuery, { body: JSON.stringify(body), contentType: 'application/json' });
  }

  async deleteJson<T>(pathAndQuery: string): Promise<T> {
    return this.call<T>('DELETE', pathAndQuery);
  }

  async postStream<T>(pathAndQuery: string, body: AsyncIterable<Uint8Array>, contentType: string, contentLength: number): Promise<T> {
    return this.call<T>('POST', pathAndQuery, { body: Readable.from(body), contentType, contentLength });
  }

  async putStream<T>(pathAndQuery: string, body: AsyncIterable<Uint8Array>, contentType: string, contentLength: number): Promise<T> {
    return this.call<T>('PUT', pathAndQuery, { body: Readable.from(body), contentType, contentLength });
  }

  /** A body to stream (a blob), from byte `offset`: 200 or 206, else the node's error. */
  async getStream(pathAndQuery: string, offset = 0): Promise<AsyncIterable<Uint8Array>> {
    const url = this.urlOf(pathAndQuery);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { headers: offset > 0 ? { range: `bytes=${offset}-` } : {}, dispatcher: this.dispatcher, headersTimeout: 30_000, bodyTimeout: 60_000 });
    } catch (err) {
      throw new SluiceError('SERVER_UNREACHABLE', `cannot reach ${this.baseUrl} (${(err as { code?: string }).code ?? (err as Error).message})`, { cause: err });
    }
    if (res.statusCode === 200 && offset === 0) return res.body;
    if (res.statusCode === 206 && offset > 0) return res.body;
    const text = await res.body.text();
    throw new SluiceError('UPSTREAM_BAD_RESPONSE', `${url.host}: GET ${url.pathname} answered HTTP ${res.statusCode} ${text.slice(0, 200)}`);
  }

  /** A route of protocol/paths.ts under the base URL, which may carry a path prefix (a reverse proxy's). */
  private urlOf(pathAndQuery: string): URL {
    return new URL(pathAndQuery.replace(/^\/+/, ''), this.baseUrl.endsWith('/') ? this.baseUrl : `${this.baseUrl}/`);
  }

  private async call<T>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', pathAndQuery: string, opts: { body?: string | Readable; contentType?: string; contentLength?: number } = {}): Promise<T> {
    const url = this.urlOf(pathAndQuery);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (this.token) headers.authorization = `Bearer ${this.token}`;
    if (opts.contentType) headers['content-type'] = opts.contentType;
    if (opts.contentLength !== undefined) headers['content-length'] = String(opts.contentLength);
    let res: Dispatcher.ResponseData;
    try {
      res = await request(url, { method, headers, body: opts.body, dispatcher: this.dispatcher, headersTimeout: 0, bodyTimeout: 0 });
    } catch (err) {
      const code = (err as { code?: string }).code ?? (err as Error).message;
      throw new SluiceError('SERVER_UNREACHABLE', `cannot reach ${this.baseUrl} (${code}); is the node running ("npm start" or "sluice serve --node NAME")? Use --server URL to talk to another node`, { cause: err });
    }
    const text = await res.body.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    if (res.statusCode >= 400) {
      const e = (json as { error?: { code?: string; message?: string; details?: string[] } } | undefined)?.error;
      const code: ErrorCode = e?.code && e.code in ERROR_CATALOGUE ? (e.code as ErrorCode) : 'INTERNAL';
      let hint = '';
      if (code === 'UNAUTHORIZED') hint = ' (set SLUICE_TOKEN to an admin token of that node)';
      throw new SluiceError(code, `${url.host}: ${e?.message ?? `HTTP ${res.statusCode}`}${hint}`, { details: e?.details });
    }
    return json as T;
  }
}
