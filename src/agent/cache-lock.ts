import { mkdir, open, readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import { SluiceError } from '../errors.js';

/**
 * One agent run per cache at a time (a cron job and `--every` must not install at once).
 * The lock is a file created exclusively, holding the owner's pid; a lock whose process is
 * gone (killed, rebooted) is taken over.
 */
export class CacheLock {
  private constructor(private readonly file: string) {}

  static async take(cacheDir: string): Promise<CacheLock> {
    const file = path.join(cacheDir, 'lock');
    await mkdir(cacheDir, { recursive: true });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fh = await open(file, 'wx', 0o600);
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        return new CacheLock(file);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        const pid = Number((await readFile(file, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(pid) && pid > 0 && alive(pid)) {
          throw new SluiceError('AGENT_BUSY', `another agent run (pid ${pid}) is using the cache ${cacheDir}; wait for it to finish, or give this one its own --cache`);
        }
        await unlink(file).catch(() => undefined);
      }
    }
    throw new SluiceError('AGENT_BUSY', `cannot take the lock ${file}; remove it if no agent is running`);
  }

  async release(): Promise<void> {
    await unlink(this.file).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
