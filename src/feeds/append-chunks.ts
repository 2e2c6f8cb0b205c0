/** Publish records a feed sync appends at once, at most (a name's versions are never split). */
export const APPEND_CHUNK = 4000;

/**
 * A sync's new versions in name then version order (`compare`: the feed's own, dpkg's or
 * rpm's), in chunks of about `size` that never split a name: each chunk's supersede links are
 * whole, and memory stays bounded for a whole archive.
 */
export function* chunksByName<T extends { readonly name: string; readonly version: string }>(found: ReadonlyMap<string, T>, size: number, compare: (a: string, b: string) => number): Generator<[string, T][]> {
  const sorted = [...found].sort(([, a], [, b]) => (a.name < b.name ? -1 : a.name > b.name ? 1 : compare(a.version, b.version)));
  let chunk: [string, T][] = [];
  for (const entry of sorted) {
    if (chunk.length >= size && chunk.at(-1)![1].name !== entry[1].name) {
      yield chunk;
      chunk = [];
    }
    chunk.push(entry);
  }
  if (chunk.length) yield chunk;
}
