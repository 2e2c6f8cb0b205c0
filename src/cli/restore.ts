import { createReadStream, statSync } from 'node:fs';
import type { Command } from 'commander';
import { SluiceError, describeFsError } from '../errors.js';
import { digestFile } from '../store/file-digest.js';
import { formatBytes } from '../topology/units.js';
import { clientFor, common, globalOptions, printJson } from './context.js';
import { blobPath } from '../protocol/paths.js';

/**
 * `sluice restore FILE...`: puts back on the primary the files of catalogued blobs it lost
 * (the `lost` list of `sluice status`, the SluiceBlobLost alert). Each file is hashed here
 * first; the primary accepts only a blob its catalog names and its store lacks.
 */
export function registerRestore(program: Command): void {
  common(program.command('restore'), { server: true, json: true })
    .description('put back on the primary the original files of blobs it lost (see "lost" in sluice status)')
    .argument('<file...>', 'the original files, as published')
    .action(async (files: string[], _opts: unknown, cmd: Command) => {
      const client = clientFor(cmd);
      const results: { file: string; sha256: string; size: number; restored: boolean }[] = [];
      for (const file of files) {
        let size: number;
        try {
          size = statSync(file).size;
        } catch (err) {
          throw new SluiceError('FILE_NOT_READABLE', `cannot restore ${file}: ${describeFsError(err)}`);
        }
        const { sha256 } = await digestFile(file);
        const res = await client.putStream<{ restored: boolean }>(blobPath(sha256), createReadStream(file), 'application/octet-stream', size);
        results.push({ file, sha256, size, restored: res.restored });
      }
      if (globalOptions(cmd).json) return printJson(results);
      for (const r of results) process.stdout.write(`${r.file}: ${r.restored ? 'restored' : 'already held'} (${r.sha256.slice(0, 12)}…, ${formatBytes(r.size)})\n`);
    });
}
