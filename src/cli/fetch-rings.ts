import type { ApiClient } from '../client/api-client.js';
import { SluiceError } from '../errors.js';
import { ringsPath } from '../protocol/paths.js';
import type { RingsJson } from './render-rings.js';

/** One page of GET /v1/rings as the node answers it. */
type RingsPageJson = RingsJson & { total: number; offset: number; limit: number };

/** Pages asked for at most: 1,000 package names each, so a catalog of 10 million names. */
const MAX_PAGES = 10_000;

/**
 * The whole by-ring view, a page at a time (the node builds one page per request, whatever
 * the catalog's size), merged ring by ring into one answer as `sluice status --by-ring` prints it.
 */
export async function fetchRings(client: ApiClient, ring?: string): Promise<RingsJson> {
  let merged: RingsJson | undefined;
  for (let page = 0, offset = 0; page < MAX_PAGES; page++) {
    const body = await client.getJson<RingsPageJson>(ringsPath({ ring, offset, limit: 1000 }));
    if (!merged) merged = { node: body.node, at: body.at, catalogSeq: body.catalogSeq, rings: body.rings.map((r) => ({ ...r, packages: [...r.packages] })) };
    else {
      for (const r of body.rings) (merged.rings.find((m) => m.ring === r.ring)?.packages as unknown[] | undefined)?.push(...r.packages);
    }
    offset = body.offset + body.limit;
    if (offset >= body.total) return merged;
  }
  throw new SluiceError('BAD_REQUEST', `the by-ring view has more than ${MAX_PAGES} pages; narrow it with --ring`);
}
