import { BLOB_BATCH_TYPE, decodeFrames, frameHeader } from '../../src/protocol/blob-batch.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { KeyObject } from 'node:crypto';
import { request } from 'undici';
import { signHead, signTimestamp } from '../../src/catalog/head.js';
import { sealRecord } from '../../src/catalog/records.js';
import { onTeardown } from './env.js';

export type BlobFault = 'none' | 'cut' | 'flip' | 'ignore-range' | 'wrong-range' | 'stall' | 'extra' | 'withhold';
export type CatalogFault = 'none' | 'alter' | 'drop' | 'reorder' | 'replay' | 'forge-head' | 'replay-expired' | 'resign' | 'freeze' | 'runaway';
export type UpdatesFault = 'none' | 'forge' | 'withhold-critical' | 'steer';

/**
 * A misbehaving upstream for tests: a loopback HTTP server in front of a real node (the
 * node's topology `url` points here, its `listen` elsewhere). It forwards everything, but
 * can break blob bodies and catalog responses on demand, throttle blobs, and counts the
 * body bytes it sent per blob and the faults it injected.
 */
export class FaultProxy {
  blobFault: BlobFault = 'none';
  catalogFault: CatalogFault = 'none';
  updatesFault: UpdatesFault = 'none';
  /** Answer long-polls at once (as some proxies do) by forwarding wait=0. */
  stripWait = false;
  rateBytesPerSec = Infinity;
  /** Answer blob batches with 404, as a node of a version without them would. */
  batchUnsupported = false;
  /** Added to the Date header of catalog answers (a peer whose clock is off). */
  dateShiftMs = 0;
  /** With catalogFault 'resign': the (stolen, revoked) key that re-signs head and timestamp. */
  resignKey: KeyObject | undefined;
  /** With catalogFault 'freeze': the last good answer, served again and again. */
  private frozen: string | undefined;
  readonly bytesSent = new Map<string, number>();
  readonly injected = new Map<string, number>();
  /** Every blob request: its Range header and the status answered. */
  readonly blobRequests: { sha: string; range: string | undefined; status: number }[] = [];
  /** Every catalog request: which node asked (x-sluice-node) and when (ms, performance clock). */
  readonly catalogRequests: { node: string | undefined; at: number }[] = [];
  private firstCatalog: string | undefined;
  /** With catalogFault 'runaway': hashes of the records made up so far, by seq. */
  private readonly madeUp = new Map<number, string>();
  private server: Server | undefined;
  private readonly sockets = new Set<import('node:net').Socket>();

  constructor(private readonly target: string) {}

  async listen(port: number): Promise<void> {
    this.server = createServer((req, res) => void this.handle(req, res).catch(() => res.destroy()));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve) => this.server!.listen(port, '127.0.0.1', resolve));
    onTeardown(() => this.close());
  }

  get port(): number {
    return (this.server!.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  count(fault: string): number {
    return this.injected.get(fault) ?? 0;
  }

  private note(fault: string): void {
    this.injected.set(fault, this.count(fault) + 1);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const blob = /^\/v1\/blobs\/([0-9a-f]{64})$/.exec(url);
    if (blob && req.method === 'GET') return this.blob(blob[1]!, req, res);
    if (url === '/v1/blobs/batch' && req.method === 'POST') return this.batch(req, res);
    if (url.startsWith('/v1/catalog')) return this.catalog(url, req, res);
    if (url.startsWith('/v1/updates') && this.updatesFault !== 'none') return this.forgeUpdates(url, req, res);
    // Anything else (status pushes, readyz) passes through unchanged.
    const body = await new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d)).on('end', () => resolve(Buffer.concat(parts)));
    });
    const up = await request(`${this.target}${url}`, { method: req.method as 'GET', headers: forwardable(req), body: body.length ? body : undefined });
    res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
    res.end(Buffer.from(await up.body.arrayBuffer()));
  }

  private async catalog(url: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.catalogRequests.push({ node: req.headers['x-sluice-node'] as string | undefined, at: performance.now() });
    // To re-order, fetch from one record earlier so the page always has two to swap.
    let fetchUrl = this.catalogFault === 'reorder' ? url.replace(/after=(\d+)/, (_m, n: string) => `after=${Math.max(0, Number(n) - 1)}`) : url;
    if (this.stripWait) fetchUrl = fetchUrl.replace(/wait=\d+/, 'wait=0');
    if (this.catalogFault === 'freeze' && this.frozen) {
      this.note('catalog:freeze');
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(this.frozen);
    }
    if (this.catalogFault === 'runaway') return this.runaway(url, req, res);
    // The meddling hub reads and rewrites JSON: it asks its upstream for plain text.
    const up = await request(`${this.target}${fetchUrl}`, { headers: plainText(req) });
    let text = await up.body.text();
    if (up.statusCode === 200 && this.catalogFault !== 'freeze') this.frozen = JSON.stringify({ ...JSON.parse(text), records: [] });
    this.firstCatalog ??= up.statusCode === 200 && JSON.parse(text).records.length > 0 ? text : undefined;
    if (up.statusCode === 200 && this.catalogFault !== 'none') {
      const page = JSON.parse(text) as { records: Record<string, unknown>[]; head: Record<string, unknown> };
      const fault = this.catalogFault;
      if (fault === 'alter' && page.records[0]) page.records[0].by = 'mallory';
      if (fault === 'drop' && page.records.length) page.records.splice(0, 1);
      if (fault === 'reorder' && page.records.length >= 2) [page.records[0], page.records[1]] = [page.records[1]!, page.records[0]!];
      // A lone record cannot be swapped (a poll held since before the fault): repeat it instead.
      else if (fault === 'reorder' && page.records.length === 1) page.records.push(page.records[0]!);
      if (fault === 'forge-head') page.head.seq = Number(page.head.seq) + 1;
      if (fault === 'resign' && this.resignKey) {
        const h = page.head as { seq: number; hash: string; expires: string };
        page.head = signHead(h.seq, h.hash, new Date(h.expires), this.resignKey) as never;
        (page as Record<string, unknown>).timestamp = signTimestamp(h.seq, h.hash, new Date(), new Date(Date.now() + 3_600_000), this.resignKey);
      }
      text = JSON.stringify(page);
      if ((fault === 'replay' || fault === 'replay-expired') && this.firstCatalog) text = this.firstCatalog;
      this.note(`catalog:${fault}`);
    }
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (this.dateShiftMs) headers.date = new Date(Date.now() + this.dateShiftMs).toUTCString();
    res.writeHead(up.statusCode, headers);
    res.end(text);
  }

  /**
   * A forging hub that never reaches a head: the genuine records up to now, then made-up
   * records that link hash to hash, under the genuine head with its seq raised far ahead (so
   * its signature no longer verifies) and `more: true`, page after page.
   */
  private async runaway(url: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const after = Number(/after=(\d+)/.exec(url)?.[1] ?? 0);
    const limit = Number(/limit=(\d+)/.exec(url)?.[1] ?? 500);
    // Full records (with their hashes), which it extends hash to hash.
    const up = await request(`${this.target}${url.replace(/wait=\d+/, 'wait=0').replace('&compact=1', '')}`, { headers: plainText(req) });
    const page = (await up.body.json()) as { records: { seq: number; hash: string }[]; head: { seq: number }; more: boolean };
    let prev = this.madeUp.get(after);
    if (prev === undefined) page.records = page.records.slice(0, limit);
    else page.records = [];
    let seq = page.records.at(-1)?.seq ?? after;
    prev ??= page.records.at(-1)?.hash;
    if (prev === undefined) {
      // After the genuine tip itself: the record's hash comes from one page back.
      const back = await request(`${this.target}/v1/catalog?after=${Math.max(0, after - 1)}&limit=1`, { headers: plainText(req) });
      prev = ((await back.body.json()) as { records: { hash: string }[] }).records[0]!.hash;
    }
    while (page.records.length < limit) {
      seq++;
      const r = sealRecord({ type: 'publish', id: `junk@${seq}`, severity: 'low', files: [{ name: 'junk.bin', size: 1, sha256: 'ab'.repeat(32) }], at: new Date().toISOString(), by: 'mallory' }, seq, prev);
      this.madeUp.set(seq, r.hash);
      page.records.push(r);
      prev = r.hash;
    }
    page.head = { ...page.head, seq: 1_000_000_000 };
    page.more = true;
    this.note('catalog:runaway');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(page));
  }

  /** Adds a critical "evil@1" that no signed record names, pointing at a real blob. */
  private async forgeUpdates(url: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const up = await request(`${this.target}${url}`, { headers: forwardable(req) });
    const body = (await up.body.json()) as { updates: { files: Record<string, unknown>[]; state: string }[] };
    if (this.updatesFault === 'withhold-critical') {
      body.updates = body.updates.filter((u) => (u as { severity?: string }).severity !== 'critical');
      this.note('updates:withhold-critical');
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(body));
    }
    if (this.updatesFault === 'steer') {
      // Genuine packages and files, edited: files reversed (another signed file of the
      // package first), option-injecting name and version, every platform's files offered.
      body.updates = body.updates.reverse().map((u) => ({ ...u, name: '-oDPkg::Pre-Invoke::=touch /tmp/sluice-steered', version: '--allow-downgrades', severity: 'critical', files: [...u.files].reverse() }));
      this.note('updates:steer');
      res.writeHead(200, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify(body));
    }
    const real = body.updates.find((u) => u.state === 'available');
    if (real) body.updates.unshift({ ...real, id: 'evil@1', name: 'evil', version: '1', severity: 'critical', files: [{ ...real.files[0], name: 'evil.sh' }] } as never);
    this.note('updates:forge');
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  /** Blob batches get the blob faults too (withhold: every frame "not held"; flip: one byte of each blob). */
  private async batch(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await new Promise<Buffer>((resolve) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d)).on('end', () => resolve(Buffer.concat(parts)));
    });
    if (this.batchUnsupported) {
      this.note('batch:unsupported');
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ error: { code: 'ROUTE_NOT_FOUND', message: 'an older node without blob batches' } }));
    }
    // Counted like a fault, so tests can tell batches from one GET per blob.
    this.note('batch:request');
    const up = await request(`${this.target}/v1/blobs/batch`, { method: 'POST', headers: forwardable(req), body });
    if (up.statusCode !== 200) {
      res.writeHead(up.statusCode, { 'content-type': String(up.headers['content-type'] ?? 'application/json') });
      return void res.end(Buffer.from(await up.body.arrayBuffer()));
    }
    const out: Buffer[] = [];
    for await (const frame of decodeFrames(up.body, 1024 * 1024)) {
      let bytes = frame.bytes;
      if (bytes && this.blobFault === 'withhold') {
        this.note('blob:withhold');
        bytes = undefined;
      } else if (bytes && this.blobFault === 'flip') {
        this.note('blob:flip');
        bytes = Buffer.from(bytes);
        bytes[0] = bytes[0]! ^ 0xff;
      }
      this.blobRequests.push({ sha: frame.sha256, range: undefined, status: bytes ? 200 : 404 });
      if (bytes) this.bytesSent.set(frame.sha256, (this.bytesSent.get(frame.sha256) ?? 0) + bytes.length);
      out.push(frameHeader(frame.sha256, bytes ? bytes.length : frame.pending ? 'pending' : 'missing'));
      if (bytes) out.push(bytes);
    }
    res.writeHead(200, { 'content-type': BLOB_BATCH_TYPE });
    res.end(Buffer.concat(out));
  }

  private async blob(sha: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const fault = this.blobFault;
    if (fault === 'withhold') {
      this.note('blob:withhold');
      this.blobRequests.push({ sha, range: req.headers.range, status: 404 });
      res.writeHead(404, { 'content-type': 'application/json' });
      return void res.end(JSON.stringify({ error: { code: 'BLOB_NOT_FOUND', message: 'withheld by the fault proxy' } }));
    }
    const headers = forwardable(req);
    if (fault === 'ignore-range') {
      delete headers.range;
      delete headers['if-range'];
    }
    const up = await request(`${this.target}/v1/blobs/${sha}`, { headers });
    const body = Buffer.from(await up.body.arrayBuffer());
    const out: Record<string, string> = {};
    for (const h of ['content-type', 'etag', 'accept-ranges', 'content-range', 'content-length']) if (up.headers[h] !== undefined) out[h] = String(up.headers[h]);
    this.blobRequests.push({ sha, range: req.headers.range, status: up.statusCode });
    if (up.statusCode >= 300) {
      res.writeHead(up.statusCode, out);
      return void res.end(body);
    }
    let payload = body;
    if (fault === 'flip') {
      payload = Buffer.from(body);
      payload[payload.length >> 1] = payload[payload.length >> 1]! ^ 0xff;
    }
    if (fault === 'wrong-range' && up.statusCode === 206) {
      const [, start, end, total] = /bytes (\d+)-(\d+)\/(\d+)/.exec(out['content-range']!)!;
      out['content-range'] = `bytes ${Number(start) + 1}-${end}/${total}`;
    }
    if (fault === 'extra') {
      delete out['content-length'];
      payload = Buffer.concat([body, Buffer.alloc(4096, 7)]);
    }
    if (fault !== 'none') this.note(`blob:${fault}`);
    res.writeHead(up.statusCode, out);
    const limit = fault === 'cut' || fault === 'stall' ? payload.length >> 1 : payload.length;
    await this.send(res, sha, payload.subarray(0, limit));
    if (fault === 'cut') return void res.destroy();
    if (fault === 'stall') return; // headers and half the body, then silence until the client gives up
    res.end();
  }

  /** Writes in 64 KiB slices, paced to `rateBytesPerSec`, counting what went out. */
  private async send(res: ServerResponse, sha: string, data: Buffer): Promise<void> {
    const started = Date.now();
    let sent = 0;
    for (let i = 0; i < data.length && !res.destroyed; i += 65536) {
      const slice = data.subarray(i, i + 65536);
      if (!res.write(slice)) await new Promise((r) => res.once('drain', r));
      sent += slice.length;
      this.bytesSent.set(sha, (this.bytesSent.get(sha) ?? 0) + slice.length);
      if (this.rateBytesPerSec !== Infinity) {
        const due = started + (sent / this.rateBytesPerSec) * 1000;
        if (due > Date.now()) await new Promise((r) => setTimeout(r, due - Date.now()));
      }
    }
  }
}

/** The request's headers without its accept-encoding: a proxy that edits the body asks for it plain. */
function plainText(req: IncomingMessage): Record<string, string> {
  const { 'accept-encoding': _encoding, ...rest } = forwardable(req);
  return rest;
}

function forwardable(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string' && !['host', 'connection', 'content-length', 'transfer-encoding'].includes(k)) out[k] = v;
  return out;
}
