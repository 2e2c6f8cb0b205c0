import type { KeyObject } from 'node:crypto';
import { appendFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { request, type Dispatcher } from 'undici';
import { CATALOG_ACCEPT, catalogPageText } from '../protocol/catalog-page.js';
import { requestDeadline } from '../protocol/request-deadline.js';
import { catalogUrl } from '../protocol/paths.js';
import { CatalogState } from '../catalog/catalog-state.js';
import { GENESIS_HASH, type CatalogRecord } from '../catalog/records.js';
import { headSignedBy, signedHeadSchema, type SignedHead } from '../catalog/head.js';
import { implicitRoot, nextRoot, type TrustRoot } from '../catalog/root.js';
import { hashRecord, recordSchema } from '../catalog/records.js';
import { CatalogRejected, verifyPage } from '../catalog/verify-page.js';
import { SluiceError } from '../errors.js';
import { writeFileDurably } from '../store/durable-file.js';

/** How far an agent follows a sync that has not reached a verified head. */
export interface UnverifiedLimits {
  readonly records: number;
  readonly bytes: number;
  readonly ms: number;
}

export const AGENT_UNVERIFIED_LIMITS: UnverifiedLimits = Object.freeze({ records: 100_000, bytes: 64 * 1024 * 1024, ms: 10 * 60_000 });

/**
 * An endpoint's own verified copy of the catalog, in its cache directory (records.jsonl and
 * head.json). It accepts from any node exactly what a node would: a chain that links to the
 * head signed with the pinned key, never older than what it holds, not expired. File hashes
 * the agent trusts come only from here, never from the node's /v1/updates answer.
 */
/** A catalog page's answer must begin within this, and complete within the next. */
const PAGE_HEADERS_MS = 30_000;
const PAGE_BODY_MS = 120_000;

export class VerifiedCatalog {
  readonly state = new CatalogState();
  private seq = 0;
  private hash = GENESIS_HASH;
  private root: TrustRoot;

  private constructor(
    private readonly dir: string,
    publicKey: KeyObject,
  ) {
    this.root = implicitRoot(publicKey);
  }

  static async open(dir: string, publicKey: KeyObject): Promise<VerifiedCatalog> {
    const c = new VerifiedCatalog(dir, publicKey);
    await mkdir(dir, { recursive: true });
    const head = await readFile(path.join(dir, 'head.json'), 'utf8').then((t) => signedHeadSchema.parse(JSON.parse(t)), () => undefined);
    const lines = await readFile(path.join(dir, 'records.jsonl'), 'utf8').then((t) => t.split('\n').filter(Boolean), () => []);
    for (const line of lines) {
      const r = recordSchema.parse(JSON.parse(line));
      if (head && r.seq > head.seq) break; // written before a crash, never covered by a head
      if (r.seq !== c.seq + 1 || r.prev !== c.hash || hashRecord(r) !== r.hash) throw new SluiceError('CATALOG_CHAIN_BROKEN', `the agent's cached catalog in ${dir} is corrupt; delete the directory to resynchronise`);
      if (r.type === 'root') c.root = nextRoot(c.root, r.root);
      c.state.apply(r);
      c.seq = r.seq;
      c.hash = r.hash;
    }
    if (head && (head.seq !== c.seq || head.hash !== c.hash || !headSignedBy(head, c.root.catalogKeys))) {
      throw new SluiceError('CATALOG_SIGNATURE_INVALID', `the agent's cached catalog in ${dir} does not match its signed head; delete the directory to resynchronise`);
    }
    if (lines.length > c.seq) await writeFile(path.join(dir, 'records.jsonl'), lines.slice(0, c.seq).map((l) => `${l}\n`).join(''));
    return c;
  }

  get position(): number {
    return this.seq;
  }

  /**
   * Brings the copy up to the node's signed head, page by page. Records wait in memory until
   * a page reaches the head: under a head the root in force does not sign (a forging node
   * sending "more" for ever), only a bounded run is taken before the server is given up.
   */
  async sync(server: string, dispatcher?: Dispatcher, now = Date.now(), limits: UnverifiedLimits = AGENT_UNVERIFIED_LIMITS, pageDeadline = { headersMs: PAGE_HEADERS_MS, bodyMs: PAGE_BODY_MS }): Promise<number> {
    const fresh: CatalogRecord[] = [];
    let tip = { seq: this.seq, hash: this.hash };
    let root = this.root;
    let bytes = 0;
    for (;;) {
      // A page has a whole deadline, not only idle ones: a node dripping a byte now and then
      // would otherwise hold the agent for ever, never trying its next --server.
      const deadline = requestDeadline(pageDeadline.headersMs, undefined, `catalog from ${server}`);
      let res: Dispatcher.ResponseData;
      let text: string;
      try {
        res = await request(catalogUrl(server, tip.seq, 5000), { dispatcher, headers: CATALOG_ACCEPT, signal: deadline.signal, headersTimeout: 0, bodyTimeout: 0 });
        deadline.answered(pageDeadline.bodyMs);
        text = await catalogPageText(res, `catalog from ${server}`, 5000);
      } catch (err) {
        throw deadline.expired ? deadline.signal.reason : err;
      } finally {
        deadline.clear();
      }
      if (res.statusCode !== 200) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `catalog from ${server}: HTTP ${res.statusCode} ${text.slice(0, 200)}`);
      bytes += text.length;
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new CatalogRejected('malformed', `catalog from ${server} is not JSON`);
      }
      const page = verifyPage(body, { seq: this.seq, hash: this.hash }, tip, root, now);
      if (!page.complete && !headSignedBy(page.head, page.root.catalogKeys) && (fresh.length + page.records.length > limits.records || bytes > limits.bytes || Date.now() - now > limits.ms)) {
        throw new CatalogRejected('unverified', `${server} sent ${fresh.length + page.records.length} catalog records (${Math.round(bytes / 1024)} KiB) under a head that no key of the root in force signed, without reaching a verified head`);
      }
      root = page.root;
      fresh.push(...page.records);
      const last = page.records.at(-1);
      if (last) tip = { seq: last.seq, hash: last.hash };
      if (page.complete) {
        await this.commit(fresh, page.head);
        this.root = page.root;
        return fresh.length;
      }
    }
  }

  private async commit(records: CatalogRecord[], head: SignedHead): Promise<void> {
    if (records.length) {
      await appendFile(path.join(this.dir, 'records.jsonl'), records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      const fh = await open(path.join(this.dir, 'records.jsonl'), 'r');
      await fh.sync();
      await fh.close();
    }
    await writeFileDurably(path.join(this.dir, 'head.json'), JSON.stringify(head));
    for (const r of records) {
      this.state.apply(r);
      this.seq = r.seq;
      this.hash = r.hash;
    }
  }
}
