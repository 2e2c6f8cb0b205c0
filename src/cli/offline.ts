import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Command } from 'commander';
import { CatalogState } from '../catalog/catalog-state.js';
import { readPublicKey } from '../catalog/keys.js';
import type { CatalogRecord } from '../catalog/records.js';
import { SluiceError } from '../errors.js';
import { CATALOG_FILE, EXPORT_FORMAT, MANIFEST_FILE, blobParts, inExport, type ExportManifest } from '../offline/export-layout.js';
import { importExport, type ImportReport } from '../offline/import-export.js';
import { wantedBlobs } from '../replicate/wanted.js';
import { openNodeData } from '../catalog/node-data.js';
import type { NodeSpec } from '../topology/types.js';
import { formatBytes, formatDuration, parseDuration } from '../topology/units.js';
import { clientFor, common, globalOptions, printJson, topologyOf } from './context.js';
import { byteProgress } from './progress.js';
import { PATHS, blobPath, catalogPath } from '../protocol/paths.js';

const SIZE = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i;

/** `4G`, `700M`, `4GiB`: binary units, as media sizes are usually meant (FAT32 stops at 4 GiB − 1). */
function parseSplit(text: string): number {
  const m = SIZE.exec(text.trim());
  if (!m) throw new SluiceError('USAGE', `--split ${text}: expected a size such as 4G, 700M or 650MiB`);
  const bytes = Math.floor(Number(m[1]) * 1024 ** ' KMGT'.indexOf((m[2] || ' ').toUpperCase()));
  // FAT32 cannot hold a file of exactly 4 GiB.
  const size = m[2]?.toUpperCase() === 'G' && Number(m[1]) === 4 ? bytes - 1 : bytes;
  if (size < 1024 * 1024) throw new SluiceError('USAGE', `--split ${text}: parts of at least 1 MiB, please`);
  return size;
}

/**
 * `sluice export` and `sluice import`: content for a site without a usable link, carried on
 * a disk. The export is written from a node over its API (the primary by default); the
 * import is verified at the receiving node exactly as the network path is.
 */
export function registerOffline(program: Command): void {
  common(program.command('export'), { server: true, json: true })
    .description('write what a node (and its subtree) should hold to a directory, for a site without a usable link')
    .requiredOption('--out <dir>', 'the directory to write (created; an interrupted export resumes there)')
    .option('--node <name>', 'the node the export is for, with everything below it (default: the whole tree)')
    .option('--since <seq>', 'only catalog records after this position and the blobs they added (an incremental export)', '0')
    .option('--split <size>', 'cut blobs into parts of at most this size, e.g. 4G for FAT32 media')
    .action(async (opts: { out: string; node?: string; since: string; split?: string }, cmd: Command) => {
      const topology = topologyOf(cmd);
      const name = opts.node ?? topology.primary;
      const spec = topology.nodes.get(name);
      if (!spec) throw new SluiceError('UNKNOWN_NODE', `--node ${name}: no such node; expected one of: ${[...topology.nodes.keys()].join(', ')}`);
      const since = Number(opts.since);
      if (!Number.isInteger(since) || since < 0) throw new SluiceError('USAGE', `--since ${opts.since}: expected a catalog position (a whole number, as "sluice status" shows it)`);
      const split = opts.split ? parseSplit(opts.split) : undefined;
      const client = clientFor(cmd);
      const out = path.resolve(opts.out);

      // The whole catalog (the state at --since is needed to know what is new after it).
      const records: CatalogRecord[] = [];
      let last: { head: unknown; timestamp?: unknown; more: boolean } | undefined;
      do {
        const page = await client.getJson<{ records: CatalogRecord[]; head: unknown; timestamp?: unknown; more: boolean }>(catalogPath(records.length ? records[records.length - 1]!.seq : 0, 5000));
        records.push(...page.records);
        last = page;
      } while (last.more);
      const headSeq = records.length ? records[records.length - 1]!.seq : 0;
      if (since > headSeq) throw new SluiceError('USAGE', `--since ${since} is beyond the catalog's newest record (${headSeq})`);
      const before = new CatalogState();
      const now = new CatalogState();
      for (const r of records) {
        if (r.seq <= since) before.apply(r);
        now.apply(r);
      }
      const had = since > 0 ? wantedBlobs(topology, spec, before) : new Map();
      const blobs = [...wantedBlobs(topology, spec, now).values()].filter((b) => !had.has(b.sha256));
      await mkdir(out, { recursive: true });
      await writeAtomically(inExport(out, CATALOG_FILE), JSON.stringify({ records: records.filter((r) => r.seq > since), head: last.head, ...(last.timestamp ? { timestamp: last.timestamp } : {}), more: false }));

      const total = blobs.reduce((n, b) => n + b.size, 0);
      const bar = byteProgress(`export ${blobs.length} blobs`, total);
      const manifest: ExportManifest = { format: EXPORT_FORMAT, createdAt: new Date().toISOString(), node: spec.name, fromSeq: since, toSeq: headSeq, blobs: [] };
      let fetched = 0;
      try {
        for (const b of blobs) {
          const parts = blobParts(b.sha256, b.size, split);
          fetched += await exportBlob(client, out, b.sha256, b.size, parts, split ?? b.size, (n) => bar.add(n));
          manifest.blobs.push({ sha256: b.sha256, size: b.size, parts });
        }
      } finally {
        bar.stop();
      }
      // Written last: an export without its manifest is incomplete, and import says so.
      await writeAtomically(inExport(out, MANIFEST_FILE), JSON.stringify(manifest, null, 1));
      const result = { out, node: spec.name, fromSeq: since, toSeq: headSeq, records: records.filter((r) => r.seq > since).length, blobs: blobs.length, bytes: total, downloaded: fetched };
      if (globalOptions(cmd).json) return printJson(result);
      process.stdout.write(`${out}: catalog records ${since + 1}..${headSeq} (${result.records}) and ${blobs.length} blobs (${formatBytes(total)}) for ${spec.name}${spec.name === topology.primary ? ' and every node' : ' and its subtree'}; carry the directory to the site and run "sluice import ${out} --node NAME" there\n`);
    });

  common(program.command('import'), { server: true, json: true })
    .description('take an export into a node, verified as the network path is; the node carries on from there')
    .argument('<dir>', 'the directory "sluice export --out" wrote')
    .requiredOption('--node <name>', 'the node to import into (running or stopped)')
    .option('--max-age <duration>', 'refuse an export whose catalog the primary signed longer ago than this (e.g. 2d); default: as long as its signed head is valid (trust.headTtl)')
    .action(async (dir: string, opts: { node: string; maxAge?: string }, cmd: Command) => {
      const abs = path.resolve(dir);
      const maxAgeMs = opts.maxAge === undefined ? undefined : parseDuration(opts.maxAge);
      if (opts.maxAge !== undefined && maxAgeMs === undefined) throw new SluiceError('USAGE', `--max-age ${opts.maxAge}: expected a duration such as 36h or 2d`);
      let report: ImportReport & { offline?: boolean };
      try {
        report = await clientFor(cmd, process.env, opts.node).postJson<ImportReport>(PATHS.import, { dir: abs, ...(maxAgeMs !== undefined ? { maxAgeSeconds: Math.round(maxAgeMs / 1000) } : {}) });
      } catch (err) {
        if (!(err instanceof SluiceError) || err.code !== 'SERVER_UNREACHABLE') throw err;
        report = { ...(await importOffline(cmd, opts.node, abs, maxAgeMs)), offline: true };
      }
      if (globalOptions(cmd).json) return printJson(report);
      const c = report.catalog;
      const b = report.blobs;
      const age = c.ageSeconds === null || c.ageSeconds === undefined ? '' : ` (signed by the primary ${formatDuration(c.ageSeconds * 1000)} ago)`;
      process.stdout.write(`${report.node}: catalog ${c.records ? `seq ${c.before} → ${c.after} (${c.records} records verified)` : `already at seq ${c.after}`}${age}; ${b.imported} blobs imported (${formatBytes(b.bytes)}, each hashed), ${b.alreadyHeld} already held, ${b.notForThisNode} not for this node${report.offline ? '; the node was stopped: it continues from here when it starts' : ''}\n`);
    });
}

/** The node is stopped: its data directory is opened here (LevelDB's lock keeps a node from starting meanwhile). */
async function importOffline(cmd: Command, nodeName: string, dir: string, maxAgeMs: number | undefined): Promise<ImportReport> {
  const topology = topologyOf(cmd);
  const spec: NodeSpec | undefined = topology.nodes.get(nodeName);
  if (!spec) throw new SluiceError('UNKNOWN_NODE', `--node ${nodeName}: no such node; expected one of: ${[...topology.nodes.keys()].join(', ')}`);
  if (spec.isPrimary) throw new SluiceError('NOT_PRIMARY', `node ${spec.name} is the primary: exports come from it; import into a downstream node`);
  const data = await openNodeData(spec.dataDir, readPublicKey(topology.trust.catalogKeyPath, 'the catalog public key (trust.catalogKey)'));
  try {
    const total = await exportBytes(dir);
    const bar = byteProgress('import', total);
    try {
      return await importExport(dir, { topology, spec, catalog: data.catalog, store: data.store, onBytes: (n) => bar.add(n), ...(maxAgeMs !== undefined ? { maxAgeMs } : {}) });
    } finally {
      bar.stop();
    }
  } finally {
    await data.close();
  }
}

async function exportBytes(dir: string): Promise<number> {
  try {
    const m = JSON.parse(await readFile(inExport(dir, MANIFEST_FILE), 'utf8')) as ExportManifest;
    return m.blobs.reduce((n, b) => n + b.size, 0);
  } catch {
    return 0;
  }
}

/**
 * One blob into its parts, hashed on the way (the import hashes again; this catches a bad
 * read here). Parts already complete from an interrupted run are read back, not fetched.
 * Returns the bytes downloaded.
 */
async function exportBlob(client: ReturnType<typeof clientFor>, out: string, sha256: string, size: number, parts: string[], partSize: number, onBytes: (n: number) => void): Promise<number> {
  const hash = createHash('sha256');
  let offset = 0;
  let first = 0;
  // Complete parts from an earlier run: kept, and hashed.
  for (; first < parts.length; first++) {
    const want = Math.min(partSize, size - first * partSize);
    const have = await stat(inExport(out, parts[first]!)).then((s) => s.size, () => -1);
    if (have !== want) break;
    const fh = await open(inExport(out, parts[first]!));
    for await (const chunk of fh.createReadStream()) hash.update(chunk as Buffer);
    offset += want;
    onBytes(want);
  }
  let downloaded = 0;
  if (offset < size) {
    const body = await client.getStream(blobPath(sha256), offset);
    let part = first;
    let inPart = 0;
    await mkdir(path.dirname(inExport(out, parts[part]!)), { recursive: true });
    let file = createWriteStream(`${inExport(out, parts[part]!)}.partial`);
    const closeFile = (f: typeof file) => new Promise<void>((resolve, reject) => f.end((err?: Error | null) => (err ? reject(err) : resolve())));
    for await (const chunk of body) {
      let buf = Buffer.from(chunk);
      while (buf.length) {
        const room = Math.min(partSize, size - part * partSize) - inPart;
        const slice = buf.subarray(0, room);
        if (!file.write(slice)) await new Promise<void>((r) => file.once('drain', () => r()));
        hash.update(slice);
        inPart += slice.length;
        downloaded += slice.length;
        onBytes(slice.length);
        buf = buf.subarray(slice.length);
        if (inPart === Math.min(partSize, size - part * partSize)) {
          await closeFile(file);
          await rename(`${inExport(out, parts[part]!)}.partial`, inExport(out, parts[part]!));
          part++;
          inPart = 0;
          if (part < parts.length) file = createWriteStream(`${inExport(out, parts[part]!)}.partial`);
        }
      }
    }
    if (part < parts.length) {
      await closeFile(file);
      throw new SluiceError('UPSTREAM_BAD_RESPONSE', `blob ${sha256} ended after ${offset + downloaded} of ${size} bytes; run the export again to resume`);
    }
  }
  if (hash.digest('hex') !== sha256) throw new SluiceError('HASH_MISMATCH', `blob ${sha256} as written under ${out} does not hash to its name; delete its parts and run the export again`);
  return downloaded;
}

async function writeAtomically(file: string, text: string): Promise<void> {
  await writeFile(`${file}.tmp`, text);
  await rename(`${file}.tmp`, file);
}
