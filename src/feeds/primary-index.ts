import type { Readable } from 'node:stream';
import { PACKAGE_NAME_PATTERN, PACKAGE_VERSION_PATTERN } from '../catalog/records.js';
import { SluiceError } from '../errors.js';
import { readRepodataXml, type DecompressBounds } from './repodata-stream.js';

/** One package (a NEVRA) as primary.xml lists it. */
export interface RpmEntry {
  readonly name: string;
  readonly epoch: string;
  readonly version: string;
  readonly release: string;
  /** `x86_64`, `aarch64`, `noarch`, … */
  readonly arch: string;
  /** Its path under the repository (`Packages/h/hello-1.0-1.x86_64.rpm`). */
  readonly href: string;
  readonly size: number;
  readonly sha256: string;
  /** The source rpm it was built from (`openssl-3.0.7-27.el9.src.rpm`), when named. */
  readonly sourceRpm: string | undefined;
}

/** The catalog version of an entry: `[epoch:]version-release`, the epoch left out when 0. */
export const rpmVersionOf = (e: Pick<RpmEntry, 'epoch' | 'version' | 'release'>): string => `${e.epoch && e.epoch !== '0' ? `${e.epoch}:` : ''}${e.version}-${e.release}`;

/** `NAME-VERSION-RELEASE.src.rpm` → name and `VERSION-RELEASE` (a source rpm's file name carries no epoch). */
export function parseSourceRpm(file: string): { name: string; version: string } | undefined {
  const m = /^(.+)-([^-]+)-([^-]+)\.(?:no)?src\.rpm$/.exec(file);
  if (!m || !PACKAGE_NAME_PATTERN.test(m[1]!) || !PACKAGE_VERSION_PATTERN.test(`${m[2]}-${m[3]}`)) return undefined;
  return { name: m[1]!, version: `${m[2]}-${m[3]}` };
}

/** A path or value fit to be fetched, stored and repeated: printable, no whitespace. */
const PRINTABLE = /^[^\s\p{C}]+$/u;

/**
 * Reads primary.xml (whose compressed bytes the caller checked against repomd.xml) and gives
 * each package as it closes: name, epoch, version, release, arch, location, size and sha256
 * (the package's checksum; only sha256 is trusted). Every value Sluice takes is checked to be
 * what a catalog record carries, on one line; a package located elsewhere (xml:base) or
 * leaving the repository is FEED_MALFORMED naming it.
 */
export async function readPrimary(source: Readable, bounds: DecompressBounds, where: string, onPackage: (p: RpmEntry) => void | Promise<void>): Promise<number> {
  let p: { name?: string; arch?: string; epoch?: string; version?: string; release?: string; href?: string; base?: string; size?: number; sha256?: string; checksumType?: string; sourceRpm?: string } = {};
  let count = 0;
  await readRepodataXml(source, bounds, where, async (e) => {
    const parent = e.path.at(-1);
    if (parent === 'package' && e.path.length === 2) {
      switch (e.name) {
        case 'name':
          p.name = e.text.trim();
          break;
        case 'arch':
          p.arch = e.text.trim();
          break;
        case 'version':
          p.epoch = e.attributes.epoch ?? '0';
          p.version = e.attributes.ver;
          p.release = e.attributes.rel;
          break;
        case 'checksum':
          p.checksumType = e.attributes.type;
          p.sha256 = e.text.trim().toLowerCase();
          break;
        case 'size':
          p.size = /^\d{1,15}$/.test(e.attributes.package ?? '') ? Number(e.attributes.package) : NaN;
          break;
        case 'location':
          p.href = e.attributes.href;
          p.base = e.attributes['xml:base'];
          break;
      }
      return;
    }
    if (e.name === 'rpm:sourcerpm' && parent === 'format') {
      p.sourceRpm = e.text.trim() || undefined;
      return;
    }
    if (e.name !== 'package' || e.path.length !== 1) return;
    const got = p;
    p = {};
    if (e.attributes.type !== undefined && e.attributes.type !== 'rpm') return;
    const label = `package ${JSON.stringify(String(got.name).slice(0, 80))} ${JSON.stringify(`${got.version}-${got.release}`.slice(0, 60))}`;
    const fail = (why: string) => new SluiceError('FEED_MALFORMED', `${where}: ${label}: ${why}`);
    if (!got.name || !PACKAGE_NAME_PATTERN.test(got.name)) throw fail('the name is not a package name Sluice can carry');
    if (!got.arch || !/^[A-Za-z0-9_]{1,32}$/.test(got.arch)) throw fail('no arch');
    if (got.epoch === undefined || !/^\d{1,10}$/.test(got.epoch) || !got.version || !got.release) throw fail('no version (epoch, ver, rel)');
    const entry: RpmEntry = { name: got.name, epoch: String(Number(got.epoch)), version: got.version, release: got.release, arch: got.arch, href: got.href ?? '', size: got.size ?? NaN, sha256: got.sha256 ?? '', sourceRpm: got.sourceRpm };
    if (!PACKAGE_VERSION_PATTERN.test(rpmVersionOf(entry)) || /[:-]/.test(entry.version) || /[:-]/.test(entry.release)) throw fail('a version or release Sluice cannot carry');
    if (got.checksumType !== 'sha256' || !/^[0-9a-f]{64}$/.test(entry.sha256)) throw fail(`a ${got.checksumType ?? 'missing'} checksum; only sha256 is trusted`);
    if (got.base !== undefined) throw fail('located elsewhere (xml:base); Sluice fetches a repository\'s own files only');
    const f = entry.href;
    if (!f || f.startsWith('/') || f.split('/').some((s) => s === '..' || s === '.' || s === '')) throw fail(`location ${JSON.stringify(f.slice(0, 100))} is missing or leaves the repository`);
    if (!PRINTABLE.test(f) || f.length > 1000 || f.length - f.lastIndexOf('/') - 1 > 255) throw fail(`location ${JSON.stringify(f.slice(0, 100))} holds a space or a control character, or is too long`);
    if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw fail('no package size');
    if (entry.sourceRpm !== undefined && (!PRINTABLE.test(entry.sourceRpm) || entry.sourceRpm.length > 255)) throw fail('a source rpm name with a space or a control character');
    count++;
    await onPackage(entry);
  });
  return count;
}
