import type { Readable } from 'node:stream';
import { SluiceError } from '../errors.js';
import type { Severity } from '../domain/severity.js';
import { readRepodataXml, type DecompressBounds } from './repodata-stream.js';

/** A package an advisory names: its NEVRA and file name, as updateinfo.xml gives them. */
export interface AdvisoryPackage {
  readonly name: string;
  readonly epoch: string;
  readonly version: string;
  readonly release: string;
  readonly arch: string;
  readonly filename: string;
  readonly src: string | undefined;
}

/** An advisory (erratum) as a vendor publishes it in updateinfo.xml. */
export interface Advisory {
  /** `RHSA-2024:1234`, `FEDORA-2024-abcdef`, `ALSA-2024:1234`. */
  readonly id: string;
  /** `security`, `bugfix`, `enhancement`, `newpackage`. */
  readonly type: string;
  /** As the vendor wrote it (`Important`, `Moderate`), or undefined. */
  readonly severity: string | undefined;
  readonly title: string;
  readonly from: string | undefined;
  readonly status: string | undefined;
  readonly version: string | undefined;
  readonly issued: string | undefined;
  readonly updated: string | undefined;
  readonly summary: string | undefined;
  readonly description: string | undefined;
  readonly references: readonly { readonly href: string; readonly id: string; readonly type: string; readonly title: string }[];
  readonly packages: readonly AdvisoryPackage[];
}

/** What an advisory keeps at most: text is shortened, lists are bounded (an advisory names tens of packages). */
const MAX_TEXT = 16 * 1024;
const MAX_REFERENCES = 1000;
const MAX_PACKAGES = 10_000;
/** Advisories one updateinfo.xml may hold (Fedora's updates repository: a few thousand). */
export const MAX_ADVISORIES = 200_000;

const ID = /^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$/;
/**
 * The child elements of an advisory Sluice keeps: any other is skipped as it is read, so an
 * advisory of millions of made-up elements (a mirror's updateinfo.xml, unsigned where the
 * vendor signs no repomd.xml) holds nothing in memory.
 */
const FIELDS: ReadonlySet<string> = new Set(['id', 'title', 'severity', 'summary', 'description']);

/** The vendor's severity word as a Sluice severity (Red Hat's and Fedora's words are the same four). */
export function severityOf(word: string | undefined): Severity | undefined {
  const w = word?.trim().toLowerCase();
  return w === 'critical' || w === 'important' || w === 'moderate' || w === 'low' ? w : undefined;
}

/**
 * Reads updateinfo.xml (whose compressed bytes the caller checked against repomd.xml): each
 * advisory with its id, type, severity, title, dates, references (CVEs among them) and the
 * packages it names. Text is kept shortened, lists bounded; an advisory without an id, or with
 * one that is not a plain identifier, is FEED_MALFORMED naming it.
 */
export async function readUpdateinfo(source: Readable, bounds: DecompressBounds, where: string, onAdvisory: (a: Advisory) => void | Promise<void>): Promise<number> {
  const fresh = () => ({ fields: new Map<string, string>(), dates: new Map<string, string>(), references: [] as Advisory['references'][number][], packages: [] as AdvisoryPackage[], pending: undefined as Omit<AdvisoryPackage, 'filename'> | undefined, filename: undefined as string | undefined });
  let a = fresh();
  let count = 0;
  const text = (s: string) => s.trim().slice(0, MAX_TEXT);
  await readRepodataXml(source, bounds, where, async (e) => {
    const depth = e.path.length;
    if (depth === 2 && e.path[1] === 'update') {
      if (e.name === 'issued' || e.name === 'updated') {
        if (e.attributes.date) a.dates.set(e.name, e.attributes.date.slice(0, 40));
      } else if (FIELDS.has(e.name)) a.fields.set(e.name, text(e.text));
      return;
    }
    if (e.name === 'reference' && e.path.at(-1) === 'references') {
      if (a.references.length < MAX_REFERENCES) a.references.push({ href: (e.attributes.href ?? '').slice(0, 1024), id: (e.attributes.id ?? '').slice(0, 128), type: (e.attributes.type ?? '').slice(0, 32), title: (e.attributes.title ?? '').slice(0, 1024) });
      return;
    }
    if (e.name === 'filename' && e.path.at(-1) === 'package') {
      a.filename = e.text.trim();
      return;
    }
    if (e.name === 'package' && e.path.at(-1) === 'collection') {
      const at = e.attributes;
      if (at.name && at.version && at.release && at.arch && a.packages.length < MAX_PACKAGES) a.packages.push({ name: at.name, epoch: String(Number(at.epoch ?? '0') || 0), version: at.version, release: at.release, arch: at.arch, filename: (a.filename ?? '').slice(0, 255), src: at.src?.slice(0, 255) });
      a.filename = undefined;
      return;
    }
    if (e.name !== 'update' || depth !== 1) return;
    const got = a;
    a = fresh();
    const id = got.fields.get('id') ?? '';
    if (!ID.test(id)) throw new SluiceError('FEED_MALFORMED', `${where}: an advisory whose id ${JSON.stringify(id.slice(0, 80))} is missing or not a plain identifier`);
    if (++count > MAX_ADVISORIES) throw new SluiceError('FEED_TOO_LARGE', `${where}: more than ${MAX_ADVISORIES} advisories; nothing was added`);
    await onAdvisory({
      id,
      type: (e.attributes.type ?? 'unknown').slice(0, 32),
      severity: got.fields.get('severity')?.slice(0, 32) || undefined,
      title: got.fields.get('title') ?? id,
      from: e.attributes.from?.slice(0, 256),
      status: e.attributes.status?.slice(0, 32),
      version: e.attributes.version?.slice(0, 32),
      issued: got.dates.get('issued'),
      updated: got.dates.get('updated'),
      summary: got.fields.get('summary'),
      description: got.fields.get('description'),
      references: got.references,
      packages: got.packages,
    });
  });
  return count;
}
