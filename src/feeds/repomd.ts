import { Readable } from 'node:stream';
import { SluiceError } from '../errors.js';
import { readRepodataXml } from './repodata-stream.js';

/** Largest repomd.xml a sync reads (a repository's is a few KiB). */
export const MAX_REPOMD_BYTES = 1024 * 1024;

/** One metadata file repomd.xml vouches for. */
export interface RepomdData {
  readonly type: string;
  /** Its path under the repository (`repodata/HEX-primary.xml.gz`). */
  readonly href: string;
  readonly size: number;
  readonly sha256: string;
  /** Uncompressed, when repomd.xml gives them. */
  readonly open: { readonly size: number; readonly sha256: string } | undefined;
  /** Seconds since the epoch. */
  readonly timestamp: number | undefined;
}

export interface Repomd {
  readonly revision: string | undefined;
  /** The newest timestamp of its files (ms since epoch): never older than the last accepted. */
  readonly dateMs: number;
  readonly data: ReadonlyMap<string, RepomdData>;
}

/**
 * Parses repomd.xml (an RPM repository's index: each metadata file with its size, checksum
 * and time). Only sha256 checksums are trusted; a file's path must stay in the repository;
 * without a primary the repository cannot be read, and without any timestamp an old repomd.xml
 * cannot be told from a new one: both are FEED_MALFORMED.
 */
export async function parseRepomd(bytes: Buffer, where: string): Promise<Repomd> {
  const data = new Map<string, RepomdData>();
  let revision: string | undefined;
  let current: { type: string; href?: string; size?: number; sha256?: string; openSize?: number; openSha256?: string; timestamp?: number } | undefined;
  const number = (text: string, what: string): number => {
    if (!/^\d{1,15}$/.test(text.trim())) throw new SluiceError('FEED_MALFORMED', `${where}: ${what} "${text.trim().slice(0, 40)}" is not a whole number`);
    return Number(text.trim());
  };
  await readRepodataXml(Readable.from([bytes]), { suffix: '', limit: MAX_REPOMD_BYTES }, where, (e) => {
    const parent = e.path.at(-1);
    if (e.name === 'revision' && parent === 'repomd') revision = e.text.trim().slice(0, 64);
    if (parent !== 'data' && e.name !== 'data') return;
    current ??= { type: '' };
    switch (e.name) {
      case 'checksum':
        if (e.attributes.type !== 'sha256') throw new SluiceError('FEED_MALFORMED', `${where}: a ${e.attributes.type ?? 'missing'} checksum; only sha256 is trusted (createrepo_c's default)`);
        current.sha256 = e.text.trim().toLowerCase();
        break;
      case 'open-checksum':
        if (e.attributes.type === 'sha256') current.openSha256 = e.text.trim().toLowerCase();
        break;
      case 'location':
        current.href = e.attributes.href;
        if (e.attributes['xml:base'] !== undefined) throw new SluiceError('FEED_MALFORMED', `${where}: metadata located elsewhere (xml:base); Sluice reads a repository's own files only`);
        break;
      case 'size':
        current.size = number(e.text, 'a size');
        break;
      case 'open-size':
        current.openSize = number(e.text, 'an open size');
        break;
      case 'timestamp':
        current.timestamp = number(e.text, 'a timestamp');
        break;
      case 'data': {
        const d = current;
        current = undefined;
        const type = e.attributes.type ?? '';
        if (!/^[a-z0-9_-]{1,64}$/.test(type)) throw new SluiceError('FEED_MALFORMED', `${where}: a data type "${type.slice(0, 40)}" that is not a name`);
        if (!d.href || !/^[A-Za-z0-9._+~-]+(\/[A-Za-z0-9._+~-]+)*$/.test(d.href) || d.href.split('/').some((s) => s === '..' || s === '.')) throw new SluiceError('FEED_MALFORMED', `${where}: ${type}'s location "${String(d.href).slice(0, 100)}" is missing or leaves the repository`);
        if (!d.sha256 || !/^[0-9a-f]{64}$/.test(d.sha256) || d.size === undefined) throw new SluiceError('FEED_MALFORMED', `${where}: ${type} without a sha256 checksum and a size`);
        const open = d.openSize !== undefined && d.openSha256 && /^[0-9a-f]{64}$/.test(d.openSha256) ? { size: d.openSize, sha256: d.openSha256 } : undefined;
        data.set(type, { type, href: d.href, size: d.size, sha256: d.sha256, open, timestamp: d.timestamp });
        break;
      }
    }
  });
  if (!data.has('primary')) throw new SluiceError('FEED_MALFORMED', `${where}: lists no primary metadata`);
  const times = [...data.values()].map((d) => d.timestamp).filter((t): t is number => t !== undefined);
  if (times.length === 0) throw new SluiceError('FEED_MALFORMED', `${where}: no timestamp; Sluice cannot tell an old repomd.xml from a new one`);
  return { revision, dateMs: Math.max(...times) * 1000, data };
}
