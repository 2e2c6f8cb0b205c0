import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

/**
 * A full garbage collection, now. V8 collects its old space lazily: a node that has just
 * taken tens of thousands of catalog records (a feed sync of a whole archive, a new node's
 * first sync, a start that reads its catalog) keeps their garbage, and its resident memory
 * near the peak, until it allocates much more. Called after such bursts only, it keeps a
 * node's memory near what it really holds (Debian main: a downstream node under 150 MiB).
 * `--expose-gc` turned on here rather than on every command line: the flag only adds the
 * `gc` function, which is taken from a fresh context and never left on the global object.
 */
export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
