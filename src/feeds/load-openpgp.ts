import type * as OpenPgp from 'openpgp';

let loading: Promise<typeof OpenPgp> | undefined;

/**
 * openpgp, loaded the first time a node signs or verifies a feed: it adds about 17 MiB to a
 * process, and most nodes of a tree (every one but a primary with feeds) never use it.
 */
export function openpgpModule(): Promise<typeof OpenPgp> {
  return (loading ??= import('openpgp'));
}
