import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import type { CatalogLog } from '../catalog/catalog-log.js';
import type { PackageView } from '../catalog/catalog-state.js';
import type { CatalogWriter } from '../catalog/catalog-writer.js';
import { PublishRounds } from './publish-rounds.js';
import { RING_ALL, type FileEntry, type RecordBody } from '../catalog/records.js';
import type { Logger } from '../log/logger.js';
import type { BlobStore, StagedBlob } from '../store/blob-store.js';
import type { Topology } from '../topology/types.js';
import type { FeedState, StoredAdvisory } from './feed-state.js';
import { poolPath } from './apt-publisher.js';
import { packageMetadata, xmlText, type PackageMetadata } from './repodata-from-header.js';
import { detachSign, type RepositoryKey, type RepositoryKeys } from './repository-key.js';
import { readRpmHeadFrom } from './rpm-header.js';
import { compareRpmVersions } from './rpm-version.js';
import type { VendorFileChecks } from './vendor-file-check.js';
import { storedBytes } from '../download/bytes-from.js';
import { toSluiceError } from '../errors.js';

/** How often a round runs while an approved package's file is still on its way to the primary. */
const PENDING_RECHECK_MS = 1000;
/** How often a round runs otherwise (an advisory updated by a sync changes no catalog record). */
const IDLE_RECHECK_MS = 60_000;

/** A package file a ring's repository lists. */
interface Listed {
  readonly pkg: PackageView;
  readonly file: FileEntry;
}

const NS = {
  primary: 'xmlns="http://linux.duke.edu/metadata/common" xmlns:rpm="http://linux.duke.edu/metadata/rpm"',
  filelists: 'xmlns="http://linux.duke.edu/metadata/filelists"',
  other: 'xmlns="http://linux.duke.edu/metadata/other"',
} as const;
const ROOT = { primary: 'metadata', filelists: 'filelists', other: 'otherdata' } as const;

/**
 * Builds, signs and publishes each ring's dnf repository of each vendor RPM repository on the
 * primary: for `all` and every ring of the topology, the packages of RPM feeds approved for it
 * (not declined, not superseded) whose file the primary holds (and so verified: its signature
 * was checked when it arrived), their metadata made from their own headers (primary,
 * filelists, other), the advisories that name them in updateinfo.xml (each with only the
 * packages this ring has), repomd.xml listing them, and repomd.xml.asc signed with the ring's
 * own key. The files are stored as blobs and an `rpm-index` record names them, so nodes
 * replicate them and serve them unchanged. Rebuilt when what it lists changes; repomd.xml has no
 * expiry for dnf to check, so nothing is re-signed on a timer.
 */
export class RpmPublisher {
  /** Its rounds: one at a time, run again when the catalog or the store calls for it. */
  private readonly rounds: PublishRounds;
  private readonly keyless = new Set<string>();
  /** Per ring and repository, what the last index built listed (a round that would list the same builds nothing). */
  private readonly built = new Map<string, string>();
  private pending = false;
  /** Per package id and file: whether its held file is the package, signed (a refusal is final, the file never changes). */
  private readonly verdicts = new Map<string, boolean>();
  /** Where each approved package sits among the vendor's repositories (read once from the feed state). */
  private readonly places = new Map<string, readonly string[]>();

  constructor(
    private readonly d: {
      readonly catalog: CatalogLog;
      readonly writer: CatalogWriter;
      readonly store: BlobStore;
      readonly state: FeedState;
      readonly keys: RepositoryKeys;
      readonly topology: Topology;
      readonly log: Logger;
      readonly now?: () => number;
      /** What a held file must be to be listed (vendor-file-check.ts): signed, and the package the catalog lists. */
      readonly checks?: Pick<VendorFileChecks, 'checkStored'>;
    },
  ) {
    // While an approved package's file is still on its way, a round runs every second;
    // otherwise every minute (an advisory a sync updated changes no catalog record).
    this.rounds = new PublishRounds({ catalog: d.catalog, log: d.log, what: 'a dnf repository', waitMs: () => (this.pending ? PENDING_RECHECK_MS : IDLE_RECHECK_MS), round: async () => {
      this.pending = false;
      for (const ring of this.rings) await this.publish(ring);
    } });
  }

  start(): void {
    this.rounds.start();
  }

  close(): Promise<void> {
    return this.rounds.close();
  }

  /** A file this primary was waiting for is stored (the downloader's "stored" event): publish again now. */
  wake(): void {
    this.rounds.wake();
  }

  get rings(): string[] {
    return [RING_ALL, ...this.d.topology.rings.filter((r) => r !== RING_ALL)];
  }

  /** Every vendor RPM repository of the topology's feeds, by name, with its feed. */
  private get repos(): Map<string, string> {
    const out = new Map<string, string>();
    for (const feed of this.d.topology.feeds.values()) if (feed.type === 'rpm') for (const repo of feed.repos.keys()) out.set(repo, feed.name);
    return new Map([...out].sort(([a], [b]) => (a < b ? -1 : 1)));
  }

  /** Builds the ring's repository of every vendor RPM repository; returns whether it appended any. */
  async publish(ring: string): Promise<boolean> {
    const key = await this.d.keys.keyFor(ring);
    if (!key) {
      if (!this.keyless.has(ring)) this.d.log.error({ ring }, `ring ${ring} has no repository key in ${this.d.keys.location}: its dnf repositories are not published; run "sluice keygen --apt --out ${this.d.keys.location}" (it makes the missing rings' keys), then give the ring's endpoints their .repo file ("sluice rpm-repo --ring ${ring}")`);
      this.keyless.add(ring);
      return false;
    }
    this.keyless.delete(ring);
    const byRepo = await this.listed(ring);
    let any = false;
    for (const repo of this.repos.keys()) any = (await this.publishRepo(ring, repo, byRepo.get(repo) ?? [], key)) || any;
    return any;
  }

  /** Per repository, the package files the ring's repository lists: approved for it, of an RPM feed, held here. */
  private async listed(ring: string): Promise<Map<string, Listed[]>> {
    const state = this.d.catalog.state;
    const out = new Map<string, Listed[]>();
    const packages: PackageView[] = [];
    for (const pkg of state.approved()) {
      if (!pkg.feed || this.d.topology.feeds.get(pkg.feed.name)?.type !== 'rpm') continue;
      if (state.isWantedBy(pkg, ring === RING_ALL ? [] : [ring])) packages.push(pkg);
    }
    packages.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : compareRpmVersions(a.version, b.version)));
    for (const pkg of packages) {
      let places = this.places.get(pkg.id);
      if (!places) {
        places = (await this.d.state.places(pkg.id)) ?? [...(this.d.topology.feeds.get(pkg.feed!.name)?.repos.keys() ?? [])].slice(0, 1);
        this.places.set(pkg.id, places);
      }
      for (const file of pkg.files) {
        // A file still on its way from the vendor is listed once it is here (and verified).
        if (!this.d.store.has(file.sha256)) {
          this.pending = true;
          continue;
        }
        if (!(await this.verified(pkg, file))) continue;
        for (const repo of places) {
          const list = out.get(repo) ?? [];
          list.push({ pkg, file });
          out.set(repo, list);
        }
      }
    }
    return out;
  }

  private async publishRepo(ring: string, repo: string, listed: readonly Listed[], key: RepositoryKey): Promise<boolean> {
    const advisories = await this.advisoriesFor(listed);
    const content = createHash('sha256').update(JSON.stringify([key.fingerprint, listed.map((l) => l.file.sha256), advisories.map((a) => [a.advisory, a.packages.map((p) => `${p.id}/${p.arch}`)])])).digest('hex');
    const builtKey = `${ring}\u0000${repo}`;
    const previous = this.d.catalog.state.rpmIndexesOf(ring, repo)[0];
    if (this.built.get(builtKey) === content && previous) return false;
    const now = (this.d.now ?? Date.now)();
    const seconds = Math.floor(now / 1000);
    const staged: StagedBlob[] = [];
    const files: { path: string; size: number; sha256: string }[] = [];
    try {
      const data: { type: string; staged: StagedBlob; open: { size: number; sha256: string } }[] = [];
      for (const type of ['primary', 'filelists', 'other'] as const) {
        const made = await this.stageXml(this.metadataXml(type, listed));
        staged.push(made.staged);
        data.push({ type, ...made });
      }
      if (advisories.length) {
        const made = await this.stageXml(updateinfoXml(advisories));
        staged.push(made.staged);
        data.push({ type: 'updateinfo', ...made });
      }
      const hrefOf = (d: (typeof data)[number]) => `repodata/${d.staged.sha256}-${d.type}.xml.gz`;
      const publicKey = Buffer.from(key.publicArmored);
      const keySha = createHash('sha256').update(publicKey).digest('hex');
      // The same files as the newest index (a restarted primary's first round): nothing to sign.
      const listedBefore = previous?.files.filter((f) => f.path.endsWith('.xml.gz') || f.path === 'key.asc').map((f) => `${f.path} ${f.sha256}`).sort();
      const listedNow = [...data.map((d) => `${hrefOf(d)} ${d.staged.sha256}`), `key.asc ${keySha}`].sort();
      if (listedBefore && JSON.stringify(listedBefore) === JSON.stringify(listedNow)) {
        for (const s of staged.splice(0)) await this.d.store.discard(s);
        this.built.set(builtKey, content);
        return false;
      }
      const repomd = Buffer.from(
        [
          '<?xml version="1.0" encoding="UTF-8"?>',
          '<repomd xmlns="http://linux.duke.edu/metadata/repo" xmlns:rpm="http://linux.duke.edu/metadata/rpm">',
          `  <revision>${seconds}</revision>`,
          ...data.map((d) =>
            [
              `  <data type="${d.type}">`,
              `    <checksum type="sha256">${d.staged.sha256}</checksum>`,
              `    <open-checksum type="sha256">${d.open.sha256}</open-checksum>`,
              `    <location href="${hrefOf(d)}"/>`,
              `    <timestamp>${seconds}</timestamp>`,
              `    <size>${d.staged.size}</size>`,
              `    <open-size>${d.open.size}</open-size>`,
              '  </data>',
            ].join('\n'),
          ),
          '</repomd>',
          '',
        ].join('\n'),
      );
      const signature = Buffer.from(await detachSign(repomd, key));
      for (const [path, bytes] of [['repodata/repomd.xml', repomd], ['repodata/repomd.xml.asc', signature], ['key.asc', publicKey]] as const) {
        const s = await this.d.store.stage(Readable.from([bytes]));
        staged.push(s);
        files.push({ path, size: s.size, sha256: s.sha256 });
      }
      for (const d of data) files.push({ path: hrefOf(d), size: d.staged.size, sha256: d.staged.sha256 });
      const body: RecordBody = { type: 'rpm-index', ring, repo, files, by: 'rpm', at: new Date(now).toISOString() };
      this.rounds.appended((await this.d.writer.append(() => [body], staged)).length);
    } catch (err) {
      for (const s of staged) await this.d.store.discard(s).catch(() => undefined);
      throw err;
    }
    this.built.set(builtKey, content);
    this.d.log.info({ ring, repo, packages: listed.length, advisories: advisories.length }, `dnf repository of ring ${ring}, ${repo} signed and published (${listed.length} package file(s), ${advisories.length} advisory(ies))`);
    return true;
  }

  /**
   * Whether a held file may be listed as `pkg`: signed by a key of its feed's keyring and its
   * header naming `pkg` (checkStored). A file enters the store other ways than the vendor
   * planner's checked download (a person's publish of the same bytes, a file the feed listed
   * again under another id); the ring lists none of them unchecked. A refusal is logged and
   * counted once; an error that may pass (a keyring unreadable, the disk) is tried again.
   */
  private async verified(pkg: PackageView, file: FileEntry): Promise<boolean> {
    const checks = this.d.checks;
    if (!checks || !pkg.feed) return true;
    const key = `${pkg.id}\u0000${file.sha256}`;
    const known = this.verdicts.get(key);
    if (known !== undefined) return known;
    try {
      await checks.checkStored(pkg.feed.name, file.sha256, storedBytes(this.d.store, file.sha256), `${pkg.id} (${file.name}, held)`, [{ id: pkg.id, name: pkg.name, version: pkg.version, arch: file.platform ?? 'noarch' }]);
      this.verdicts.set(key, true);
      return true;
    } catch (err) {
      const e = toSluiceError(err, `checking ${pkg.id}`, 'FEED_PACKAGE_SIGNATURE');
      if (e.code === 'FEED_PACKAGE_SIGNATURE') {
        this.verdicts.set(key, false);
        this.d.log.error({ package: pkg.id, sha256: file.sha256, code: e.code }, `${e.message}; it is left out of the dnf repositories`);
      } else this.d.log.warn({ package: pkg.id, sha256: file.sha256, code: e.code }, `cannot check ${pkg.id} (${file.name}): ${e.message}; it is left out of the dnf repositories until it can`);
      return false;
    }
  }

  /** One metadata file's text, a package at a time (its entries made once from its verified header). */
  private async *metadataXml(type: 'primary' | 'filelists' | 'other', listed: readonly Listed[]): AsyncGenerator<string> {
    yield `<?xml version="1.0" encoding="UTF-8"?>\n<${ROOT[type]} ${NS[type]} packages="${listed.length}">\n`;
    for (const l of listed) {
      const meta = await this.metadataOf(l);
      if (meta) yield `${meta[type]}\n`;
    }
    yield `</${ROOT[type]}>\n`;
  }

  private async metadataOf(l: Listed): Promise<PackageMetadata | undefined> {
    const known = await this.d.state.rpmMetadata(l.file.sha256);
    if (known) return known;
    const stream = this.d.store.read(l.file.sha256);
    try {
      const head = await readRpmHeadFrom(stream as AsyncIterable<Buffer>, `${l.pkg.id} (${l.file.name})`);
      const meta = packageMetadata(head, { href: poolPath(l.file.sha256, l.file.name), sha256: l.file.sha256, size: l.file.size });
      await this.d.state.saveRpmMetadata(l.file.sha256, meta);
      return meta;
    } catch (err) {
      this.d.log.error({ package: l.pkg.id, sha256: l.file.sha256 }, `cannot read the header of ${l.pkg.id} (${l.file.name}): ${(err as Error).message}; it is left out of the dnf repositories`);
      return undefined;
    } finally {
      stream.destroy();
    }
  }

  /** Gzipped into a staging file: the compressed blob, and the open size and sha256 repomd.xml names. */
  private async stageXml(text: AsyncIterable<string>): Promise<{ staged: StagedBlob; open: { size: number; sha256: string } }> {
    const hash = createHash('sha256');
    let size = 0;
    const counted = async function* () {
      for await (const s of text) {
        const b = Buffer.from(s);
        hash.update(b);
        size += b.length;
        yield b;
      }
    };
    const gzip = Readable.from(counted()).pipe(createGzip({ level: 9 }));
    const staged = await this.d.store.stage(gzip);
    return { staged, open: { size, sha256: hash.digest('hex') } };
  }

  /** The advisories naming the listed packages, each with only the listed packages it names. */
  private async advisoriesFor(listed: readonly Listed[]): Promise<{ advisory: StoredAdvisory; packages: { id: string; arch: string; src: string | undefined; name: string; version: string; file: string }[] }[]> {
    const here = new Map<string, Listed>();
    for (const l of listed) here.set(`${l.pkg.id}\u0000${l.file.platform ?? 'noarch'}`, l);
    // Each package's advisories as its own feed listed them: another feed's mirror listing the
    // same advisory id changes neither the words nor the packages of this one.
    const ids = new Map<string, { id: string; feed: string }>();
    for (const l of listed) for (const a of (await this.d.state.advisoriesOf(l.pkg.id)) ?? []) ids.set(`${a}\u0000${l.pkg.feed!.name}`, { id: a, feed: l.pkg.feed!.name });
    const out = [];
    for (const key of [...ids.keys()].sort()) {
      const { id, feed } = ids.get(key)!;
      const advisory = await this.d.state.advisory(id, feed);
      if (!advisory) continue;
      const packages = advisory.packages.flatMap((p) => {
        const l = here.get(`${p.id}\u0000${p.arch}`);
        return l ? [{ ...p, name: l.pkg.name, version: l.pkg.version, file: l.file.name }] : [];
      });
      if (packages.length) out.push({ advisory, packages });
    }
    return out;
  }
}

/** updateinfo.xml of the given advisories, each naming only the packages given with it. */
async function* updateinfoXml(list: Awaited<ReturnType<RpmPublisher['advisoriesFor']>>): AsyncGenerator<string> {
  yield '<?xml version="1.0" encoding="UTF-8"?>\n<updates>\n';
  for (const { advisory: a, packages } of list) {
    const attr = (k: string, v: string | undefined) => (v === undefined ? '' : ` ${k}="${xmlText(v)}"`);
    const el = (k: string, v: string | undefined) => (v === undefined ? '' : `    <${k}>${xmlText(v)}</${k}>\n`);
    let out = `  <update${attr('from', a.from)}${attr('status', a.status)}${attr('type', a.type)}${attr('version', a.version)}>\n`;
    out += el('id', a.id) + el('title', a.title);
    if (a.issued) out += `    <issued date="${xmlText(a.issued)}"/>\n`;
    if (a.updated) out += `    <updated date="${xmlText(a.updated)}"/>\n`;
    out += el('severity', a.severity) + el('summary', a.summary) + el('description', a.description);
    out += '    <references>\n';
    for (const r of a.references) out += `      <reference href="${xmlText(r.href)}" id="${xmlText(r.id)}" type="${xmlText(r.type)}" title="${xmlText(r.title)}"/>\n`;
    out += '    </references>\n    <pkglist>\n      <collection>\n';
    for (const p of packages) {
      const evr = /^(?:(\d+):)?(.+)-([^-]+)$/.exec(p.version);
      out += `        <package name="${xmlText(p.name)}" epoch="${evr?.[1] ?? '0'}" version="${xmlText(evr?.[2] ?? p.version)}" release="${xmlText(evr?.[3] ?? '')}" arch="${xmlText(p.arch)}"${attr('src', p.src)}>\n          <filename>${xmlText(p.file)}</filename>\n        </package>\n`;
    }
    out += '      </collection>\n    </pkglist>\n  </update>\n';
    yield out;
  }
  yield '</updates>\n';
}
