import { TAG, type RpmHead, type RpmHeader } from './rpm-header.js';
import { parseEvr } from './rpm-version.js';

/** A package's entries in a ring's primary.xml, filelists.xml and other.xml. */
export interface PackageMetadata {
  readonly primary: string;
  readonly filelists: string;
  readonly other: string;
}

/** Where the ring's repository serves the file, and what it is. */
export interface PackageFile {
  readonly href: string;
  readonly sha256: string;
  readonly size: number;
}

/** rpm's dependency sense bits (rpmds.h). */
const SENSE = { LESS: 2, GREATER: 4, EQUAL: 8, PREREQ: 64, SCRIPT_PRE: 512, SCRIPT_POST: 1024, RPMLIB: 1 << 24 } as const;
const RPMFILE_GHOST = 64;
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
/** Changelog entries kept per package (createrepo_c keeps the newest 10 by default). */
const CHANGELOG_LIMIT = 10;
/** Files primary.xml lists (createrepo's rule: what file dependencies usually name). */
const PRIMARY_FILE = /^\/etc\/|bin\/|^\/usr\/lib\/sendmail$/;

/** Text fit for XML 1.0: its special characters escaped, characters it cannot hold dropped. */
export function xmlText(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;');
}

/**
 * A package's repodata entries made from its own header (the one whose signature the primary
 * verified when the file arrived), as createrepo_c makes them: name, EVR, arch, checksum,
 * sizes, times, location (the ring's pool), the format (license, vendor, group, build host,
 * source rpm, header range), dependencies of every kind (rpmlib() requirements left out), the
 * files dependencies usually name in primary, every file in filelists, the newest changelog
 * entries in other. Nothing comes from the vendor's metadata, which a mirror may have altered
 * where the vendor does not sign repomd.xml.
 */
export function packageMetadata(head: RpmHead, file: PackageFile): PackageMetadata {
  const h = head.header;
  const str = (tag: number) => xmlText(h.string(tag) ?? '');
  const name = str(TAG.NAME);
  const arch = h.has(TAG.SOURCEPACKAGE) ? 'src' : str(TAG.ARCH);
  const version = `<version epoch="${h.number(TAG.EPOCH) ?? 0}" ver="${str(TAG.VERSION)}" rel="${str(TAG.RELEASE)}"/>`;
  const buildTime = h.number(TAG.BUILDTIME) ?? 0;
  const installed = h.number(TAG.LONGSIZE) ?? h.number(TAG.SIZE) ?? 0;
  const archive = head.signature.number(TAG.SIG_LONGARCHIVESIZE) ?? head.signature.number(TAG.SIG_PAYLOADSIZE) ?? h.number(TAG.ARCHIVESIZE) ?? 0;
  const files = fileList(h);
  const deps = (kind: string, names: number, flags: number, versions: number, requires = false): string => {
    const list = dependencies(h, names, flags, versions, requires);
    return list.length ? `    <rpm:${kind}>\n${list.join('\n')}\n    </rpm:${kind}>\n` : '';
  };
  const primaryFiles = files.filter((f) => PRIMARY_FILE.test(f.path));
  const primary = [
    '<package type="rpm">',
    `  <name>${name}</name>`,
    `  <arch>${arch}</arch>`,
    `  ${version}`,
    `  <checksum type="sha256" pkgid="YES">${file.sha256}</checksum>`,
    `  <summary>${str(TAG.SUMMARY)}</summary>`,
    `  <description>${str(TAG.DESCRIPTION)}</description>`,
    `  <packager>${str(TAG.PACKAGER)}</packager>`,
    `  <url>${str(TAG.URL)}</url>`,
    `  <time file="${buildTime}" build="${buildTime}"/>`,
    `  <size package="${file.size}" installed="${installed}" archive="${archive}"/>`,
    `  <location href="${xmlText(file.href)}"/>`,
    '  <format>',
    `    <rpm:license>${str(TAG.LICENSE)}</rpm:license>`,
    `    <rpm:vendor>${str(TAG.VENDOR)}</rpm:vendor>`,
    `    <rpm:group>${str(TAG.GROUP)}</rpm:group>`,
    `    <rpm:buildhost>${str(TAG.BUILDHOST)}</rpm:buildhost>`,
    `    <rpm:sourcerpm>${str(TAG.SOURCERPM)}</rpm:sourcerpm>`,
    `    <rpm:header-range start="${head.headerStart}" end="${head.headerEnd}"/>`,
    (
      deps('provides', TAG.PROVIDENAME, TAG.PROVIDEFLAGS, TAG.PROVIDEVERSION) +
      deps('requires', TAG.REQUIRENAME, TAG.REQUIREFLAGS, TAG.REQUIREVERSION, true) +
      deps('conflicts', TAG.CONFLICTNAME, TAG.CONFLICTFLAGS, TAG.CONFLICTVERSION) +
      deps('obsoletes', TAG.OBSOLETENAME, TAG.OBSOLETEFLAGS, TAG.OBSOLETEVERSION) +
      deps('suggests', TAG.SUGGESTNAME, TAG.SUGGESTFLAGS, TAG.SUGGESTVERSION) +
      deps('enhances', TAG.ENHANCENAME, TAG.ENHANCEFLAGS, TAG.ENHANCEVERSION) +
      deps('recommends', TAG.RECOMMENDNAME, TAG.RECOMMENDFLAGS, TAG.RECOMMENDVERSION) +
      deps('supplements', TAG.SUPPLEMENTNAME, TAG.SUPPLEMENTFLAGS, TAG.SUPPLEMENTVERSION)
    ).replace(/\n$/, ''),
    ...primaryFiles.map(fileElement('    ')),
    '  </format>',
    '</package>',
  ]
    .filter((line) => line !== '')
    .join('\n');
  const ident = `<package pkgid="${file.sha256}" name="${name}" arch="${arch}">\n  ${version}`;
  const filelists = [ident, ...files.map(fileElement('  ')), '</package>'].join('\n');
  const other = [ident, ...changelog(h).map((c) => `  <changelog author="${xmlText(c.author)}" date="${c.date}">${xmlText(c.text)}</changelog>`), '</package>'].join('\n');
  return { primary, filelists, other };
}

interface FileItem {
  readonly path: string;
  readonly type: 'dir' | 'ghost' | undefined;
}

const fileElement = (indent: string) => (f: FileItem) => `${indent}<file${f.type ? ` type="${f.type}"` : ''}>${xmlText(f.path)}</file>`;

/** Every file of the package: directory names and base names joined (or the old full names), with directories and ghosts marked. */
function fileList(h: RpmHeader): FileItem[] {
  const base = h.strings(TAG.BASENAMES);
  const dirs = h.strings(TAG.DIRNAMES);
  const index = h.numbers(TAG.DIRINDEXES);
  const paths = base && dirs && index ? base.map((b, i) => `${dirs[index[i]!] ?? ''}${b}`) : (h.strings(TAG.OLDFILENAMES) ?? []);
  const modes = h.numbers(TAG.FILEMODES) ?? [];
  const flags = h.numbers(TAG.FILEFLAGS) ?? [];
  return paths.map((path, i) => ({ path, type: ((modes[i] ?? 0) & S_IFMT) === S_IFDIR ? 'dir' : ((flags[i] ?? 0) & RPMFILE_GHOST) !== 0 ? 'ghost' : undefined }));
}

/** One kind of dependency as rpm:entry elements, each once, rpmlib() requirements left out. */
function dependencies(h: RpmHeader, namesTag: number, flagsTag: number, versionsTag: number, requires: boolean): string[] {
  const names = h.strings(namesTag) ?? [];
  const flags = h.numbers(flagsTag) ?? [];
  const versions = h.strings(versionsTag) ?? [];
  const seen = new Set<string>();
  const out: string[] = [];
  names.forEach((name, i) => {
    const f = flags[i] ?? 0;
    if (requires && (name.startsWith('rpmlib(') || (f & SENSE.RPMLIB) !== 0)) return;
    const v = versions[i] ?? '';
    const cmp = f & (SENSE.LESS | SENSE.GREATER | SENSE.EQUAL);
    const op = cmp === SENSE.EQUAL ? 'EQ' : cmp === (SENSE.LESS | SENSE.EQUAL) ? 'LE' : cmp === (SENSE.GREATER | SENSE.EQUAL) ? 'GE' : cmp === SENSE.LESS ? 'LT' : cmp === SENSE.GREATER ? 'GT' : undefined;
    let attrs = `name="${xmlText(name)}"`;
    if (op && v) {
      const evr = parseEvr(v);
      attrs += ` flags="${op}" epoch="${xmlText(evr.epoch)}" ver="${xmlText(evr.version)}"${evr.release !== undefined ? ` rel="${xmlText(evr.release)}"` : ''}`;
    }
    if (requires && (f & (SENSE.PREREQ | SENSE.SCRIPT_PRE | SENSE.SCRIPT_POST)) !== 0) attrs += ' pre="1"';
    if (seen.has(attrs)) return;
    seen.add(attrs);
    out.push(`      <rpm:entry ${attrs}/>`);
  });
  return out;
}

/** The newest changelog entries, oldest first. */
function changelog(h: RpmHeader): { author: string; date: number; text: string }[] {
  const times = h.numbers(TAG.CHANGELOGTIME) ?? [];
  const names = h.strings(TAG.CHANGELOGNAME) ?? [];
  const texts = h.strings(TAG.CHANGELOGTEXT) ?? [];
  return times
    .slice(0, CHANGELOG_LIMIT)
    .map((date, i) => ({ date, author: names[i] ?? '', text: texts[i] ?? '' }))
    .reverse();
}
