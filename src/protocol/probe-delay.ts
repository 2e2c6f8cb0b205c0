import { request, type Dispatcher } from 'undici';
import { NODE_HEADER } from './headers.js';
import { paceUrl, readyzUrl } from './paths.js';

/** Upstreams known to lack /v1/pace (an earlier version): probed with /readyz instead. */
const withoutPace = new Set<string>();

/**
 * The path's delay to a node, as background mode reads it: the time from sending a tiny
 * request to its first byte back, on a connection of the pool that is not busy with a
 * transfer. Its answer queues behind whatever crowds the link towards this node. The request
 * is `GET /v1/pace?rate=R`, which also asks the upstream to send to this node at R bytes/s
 * (http/routes/pace.ts); an upstream without that route is probed with `/readyz`.
 * Undefined when the node does not answer within 5 s.
 */
export async function probeDelayMs(url: string, dispatcher: Dispatcher, selfName: string, pace?: { rateBytesPerSec: number; peerToken: string | undefined }): Promise<number | undefined> {
  const paced = pace !== undefined && !withoutPace.has(url);
  const headers: Record<string, string> = { [NODE_HEADER]: selfName };
  if (paced && pace.peerToken) headers.authorization = `Bearer ${pace.peerToken}`;
  const started = performance.now();
  try {
    const res = await request(paced ? paceUrl(url, pace.rateBytesPerSec) : readyzUrl(url), { dispatcher, headers, headersTimeout: 5000, bodyTimeout: 5000 });
    const ms = performance.now() - started;
    await res.body.dump();
    if (paced && res.statusCode === 404) withoutPace.add(url);
    return ms;
  } catch {
    return undefined;
  }
}
