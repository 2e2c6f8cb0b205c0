import { request, type Dispatcher } from 'undici';
import type { CatalogLog } from '../catalog/catalog-log.js';
import { UnverifiedRun, type UnverifiedBounds } from '../catalog/unverified-run.js';
import { CatalogRejected, verifyPage } from '../catalog/verify-page.js';
import { retiredBlobs } from '../catalog/retention.js';
import type { TlsFailureReason } from '../domain/labels.js';
import { SluiceError, toSluiceError } from '../errors.js';
import { CATALOG_ACCEPT, catalogPageText } from '../protocol/catalog-page.js';
import { blobUrl, catalogUrl } from '../protocol/paths.js';
import { requestDeadline } from '../protocol/request-deadline.js';
import type { BlobStore } from '../store/blob-store.js';
import { tlsErrorCode, tlsFailureReason } from '../tls/node-identity.js';

export interface RecoverReport {
  /** The node the log and blobs were taken from. */
  from: string;
  catalog: { before: number; after: number; records: number };
  /**
   * `missing`: catalogued blobs neither this primary nor that node holds (restore them with
   * `sluice restore FILE`); `packages` names what needs each, `apt:RING` for a file of a
   * ring's newest APT index.
   */
  blobs: { fetched: number; bytes: number; alreadyHeld: number; missing: { sha256: string; packages: string[] }[] };
}

export interface RecoverDeps {
  readonly catalog: CatalogLog;
  readonly store: BlobStore;
  readonly from: { readonly name: string; readonly url: string };
  readonly dispatcher: Dispatcher;
  /** How far records may be staged under a head that cannot be checked yet: the follower's bounds (replication tuning). */
  readonly bounds: UnverifiedBounds;
  /** policy.retainSuperseded: retired files are not fetched back. */
  readonly retainMs?: number | undefined;
  readonly now?: () => number;
  /** One line of progress at a time (the CLI prints them). */
  readonly progress?: (line: string) => void;
}

const PAGE = 5000;
/** One catalog page: its headers within a minute, all of it within two more. */
const PAGE_HEADERS_MS = 60_000;
const PAGE_BODY_MS = 120_000;

/**
 * A primary restored from a backup older than what its nodes hold takes the signed log back
 * from one of them, verified as any sync is (records chained from the primary's own tip, the
 * head signed by the root in force, root changes one version at a time), except that the head
 * and timestamp may have expired while it was down: it signs a fresh head when it starts.
 * Pages are staged as a node's follower stages them: each verified before it is written, and
 * under a head that cannot be checked yet only within the same bounded run of records, bytes
 * and time, so a node answering "more" for ever is refused, not followed.
 * Then every catalogued blob it lacks (package files, and the files of each ring's newest APT
 * index, so the primary serves that index at once) is fetched from that node and hashed before
 * it is kept.
 * Nodes never see the catalog go back, so nothing forks and nothing is transferred again.
 * Run on the stopped primary (its data directory is locked while it runs).
 */
export async function recoverPrimary(d: RecoverDeps): Promise<RecoverReport> {
  const before = d.catalog.seq;
  const records = await takeLog(d);
  const blobs = await takeBlobs(d, retiredBlobs(d.catalog.state, d.retainMs, (d.now ?? Date.now)()));
  return { from: d.from.name, catalog: { before, after: d.catalog.seq, records }, blobs };
}

async function takeLog(d: RecoverDeps): Promise<number> {
  const now = d.now ?? Date.now;
  const run = new UnverifiedRun(d.from.name, now(), d.bounds);
  let taken = 0;
  try {
    for (;;) {
      const tip = d.catalog.receivedTip;
      const { body, bytes } = await getPage(d, catalogUrl(d.from.url, tip.seq, PAGE));
      const headSeq = (body as { head?: { seq?: unknown } } | null)?.head?.seq;
      // The node is behind this primary (the backup is newer than it): nothing there to take.
      if (typeof headSeq === 'number' && headSeq < d.catalog.seq && tip.seq === d.catalog.seq) return 0;
      const page = verifyPage(body, { seq: d.catalog.seq, hash: d.catalog.tipHash }, tip, tip.root, now(), { signerRecovering: true });
      // The node holds what this primary holds, signed: nothing to take (the backup was current).
      if (page.complete && page.head.seq === d.catalog.seq) return 0;
      if (!page.complete) run.admit(page, bytes, now(), d.catalog);
      await d.catalog.stageRecords(page.records, page.root);
      taken += page.records.length;
      d.progress?.(`catalog: ${taken} records taken from ${d.from.name} (up to seq ${d.catalog.receivedTip.seq})`);
      if (page.complete) {
        await d.catalog.commitHead(page.head, page.timestamp, page.root);
        return taken;
      }
    }
  } catch (err) {
    await d.catalog.discardUnverified().catch(() => undefined);
    if (err instanceof CatalogRejected && err.reason === 'unverified') throw new SluiceError(err.code, `the catalog of ${d.from.name} does not reach a verified head within the bounds every node keeps (${err.message}); nothing was taken. Recover from another node`, { cause: err });
    if (err instanceof CatalogRejected) throw new SluiceError(err.code, `the catalog of ${d.from.name} does not verify from this primary's own tip (${err.message}); nothing was taken. Recover from another node, or check that this backup belongs to this tree`, { cause: err });
    throw err;
  }
}

async function takeBlobs(d: RecoverDeps, retired: ReadonlySet<string>): Promise<RecoverReport['blobs']> {
  const wanted = new Map<string, { size: number; packages: string[] }>();
  const want = (f: { sha256: string; size: number }, by: string) => {
    const w = wanted.get(f.sha256) ?? { size: f.size, packages: [] };
    w.packages.push(by);
    wanted.set(f.sha256, w);
  };
  for (const pkg of d.catalog.state.all()) {
    for (const f of pkg.files) if (!retired.has(f.sha256)) want(f, pkg.id);
  }
  // Each ring's newest signed APT index of every suite (InRelease, Release, Packages…):
  // without its files the primary would serve an older index, or none, until it signs the next.
  for (const { ring, suite } of d.catalog.state.aptSuites()) {
    const newest = d.catalog.state.aptIndexesOf(ring, suite)[0];
    for (const f of newest?.files ?? []) want(f, `apt:${ring}`);
  }
  for (const { ring, repo } of d.catalog.state.rpmRepos()) {
    for (const f of d.catalog.state.rpmIndexesOf(ring, repo)[0]?.files ?? []) want(f, `rpm:${ring}`);
  }
  const out: RecoverReport['blobs'] = { fetched: 0, bytes: 0, alreadyHeld: 0, missing: [] };
  for (const [sha256, w] of wanted) {
    if (d.store.has(sha256)) {
      out.alreadyHeld++;
      continue;
    }
    if (await takeBlob(d, sha256, w.size)) {
      out.fetched++;
      out.bytes += w.size;
      d.progress?.(`blobs: ${out.fetched} fetched from ${d.from.name} (${w.packages.join(', ')})`);
    } else out.missing.push({ sha256, packages: w.packages });
  }
  return out;
}

/** One blob from the node, kept only if its bytes hash to the catalog's sha256 and size. */
async function takeBlob(d: RecoverDeps, sha256: string, size: number): Promise<boolean> {
  let res: Dispatcher.ResponseData;
  try {
    res = await request(blobUrl(d.from.url, sha256), { dispatcher: d.dispatcher });
  } catch (err) {
    throw callFailed(d, err, `fetching blob ${sha256.slice(0, 12)}… from ${d.from.name}`);
  }
  if (res.statusCode !== 200) {
    await res.body.dump().catch(() => undefined);
    return false;
  }
  let staged;
  try {
    staged = await d.store.stage(res.body, { maxBytes: size });
  } catch (err) {
    // More bytes than the catalog lists: that node's copy is wrong, not this disk.
    if (err instanceof SluiceError && err.code === 'PAYLOAD_TOO_LARGE') return false;
    throw toSluiceError(err, `storing blob ${sha256.slice(0, 12)}… from ${d.from.name} on this primary's disk`, 'STORE_IO');
  }
  if (staged.sha256 !== sha256 || staged.size !== size) {
    await d.store.discard(staged);
    return false;
  }
  await d.store.commit([staged]);
  return true;
}

/** One page of the node's catalog, parsed, with its size (the run's byte bound counts it). */
async function getPage(d: RecoverDeps, url: string): Promise<{ body: unknown; bytes: number }> {
  const what = `reading the catalog of ${d.from.name} (${d.from.url})`;
  // A node that answers slowly, or drips its answer, is given up on a native timer per page.
  const deadline = requestDeadline(PAGE_HEADERS_MS, undefined, what);
  let status: number;
  let text: string;
  try {
    const res = await request(url, { dispatcher: d.dispatcher, signal: deadline.signal, headers: CATALOG_ACCEPT, headersTimeout: 0, bodyTimeout: 0 });
    deadline.answered(PAGE_BODY_MS);
    status = res.statusCode;
    text = await catalogPageText(res, what, PAGE);
  } catch (err) {
    throw callFailed(d, deadline.expired ? deadline.signal.reason : err, what);
  } finally {
    deadline.clear();
  }
  if (status !== 200) throw new SluiceError('UPSTREAM_BAD_RESPONSE', `the catalog of ${d.from.name}: HTTP ${status} ${text.slice(0, 200)}`);
  try {
    return { body: JSON.parse(text), bytes: text.length };
  } catch {
    throw new SluiceError('UPSTREAM_BAD_RESPONSE', `the catalog of ${d.from.name} is not JSON`);
  }
}

const TLS_ADVICE: Record<TlsFailureReason, string> = {
  revoked: 'its certificate is listed in trust.crl (sluice cert revoke); give that node a new one (sluice cert node NAME) or recover from another node',
  expired: 'renew its certificate (sluice cert node NAME), or recover from another node',
  unknown_ca: 'its certificate is not issued by the CA of trust.ca; recover from a node of this tree',
  name_mismatch: 'its certificate does not name the host of its url in the topology',
  plain_http: 'its url says https:// but it serves plain HTTP',
  bad_certificate: 'check its certificate with "sluice check --node NAME" on its host',
  other: 'check its certificate with "sluice check --node NAME" on its host',
};

/**
 * A failed call to the node. A certificate refused at the handshake is said as nodes count
 * it (sluice_tls_handshake_failures_total's reasons): the revocation list and CA are checked
 * here exactly as every node checks its upstream.
 */
function callFailed(d: RecoverDeps, err: unknown, context: string): SluiceError {
  const code = tlsErrorCode(err);
  if (code === undefined) return toSluiceError(err, context);
  const reason = tlsFailureReason(code, (err as Error | undefined)?.message);
  return new SluiceError('UPSTREAM_TLS_REFUSED', `${context}: the TLS certificate of ${d.from.name} is refused (${reason}, ${code}): ${TLS_ADVICE[reason].replace('NAME', d.from.name)}`, { cause: err });
}
