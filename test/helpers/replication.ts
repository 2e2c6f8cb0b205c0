import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { request } from 'undici';
import type { SluiceNode } from '../../src/daemon.js';
import { waitFor } from './env.js';
import { adminPost, publish, writeFile } from './publish.js';

import { sha256 } from './hash.js';

export { sha256 };

/** Publishes one file as NAME@VERSION and approves it for `ring` (unless null); returns its bytes and sha. */
export async function release(baseUrl: string, dir: string, name: string, opts: { version?: string; size?: number; ring?: string | null; meta?: Record<string, unknown> } = {}) {
  const content = randomBytes(opts.size ?? 64 * 1024);
  const version = opts.version ?? '1';
  const res = await publish(baseUrl, { name, version, ...opts.meta }, [writeFile(dir, `${name}-${version}.bin`, content)]);
  if (res.status !== 201) throw new Error(`publish ${name}: ${JSON.stringify(res.json)}`);
  if (opts.ring !== null) {
    const ok = await adminPost(baseUrl, `/v1/packages/${name}@${version}/approve`, { ring: opts.ring ?? 'all' });
    if (ok.status !== 200) throw new Error(`approve ${name}: ${JSON.stringify(ok.json)}`);
  }
  return { id: `${name}@${version}`, content, sha: sha256(content) };
}

/** True when `node` holds the blob and its file is byte-identical to `content`. */
export function holdsExactly(node: SluiceNode, content: Buffer): boolean {
  const sha = sha256(content);
  if (!node.store.has(sha)) return false;
  const loc = node.store.packLocation(sha);
  if (!loc) return readFileSync(node.store.pathOf(sha)).equals(content);
  // A small blob lives in a pack file: compare its slice.
  const fd = openSync(node.store.packs.pathOf(loc.pack), 'r');
  try {
    const buf = Buffer.alloc(content.length);
    return readSync(fd, buf, 0, buf.length, loc.offset) === content.length && buf.equals(content);
  } finally {
    closeSync(fd);
  }
}

/** Waits until `node` has caught up with `seq` and has nothing pending. */
export async function converged(node: SluiceNode, seq: number, timeoutMs = 20_000): Promise<void> {
  await waitFor(`${node.spec.name} to reach seq ${seq} with nothing pending`, () => {
    const s = node.status() as { catalog: { seq: number }; pending: { blobs: number } };
    return s.catalog.seq === seq && s.pending.blobs === 0;
  }, timeoutMs);
}

export async function metric(node: SluiceNode, name: string): Promise<number> {
  const text = await node.metrics.scrape();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`) && l.includes(name));
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : NaN;
}

export async function getJson(url: string) {
  const res = await request(url);
  return (await res.body.json()) as any;
}
