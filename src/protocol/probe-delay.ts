import { request, type Dispatcher } from 'undici';
import { NODE_HEADER } from './headers.js';

/**
 * The path's delay to a node, as background mode reads it: the time from sending a tiny
 * request (`/readyz`) to its first byte back, on a connection of the pool that is not busy
 * with a transfer. Its answer queues behind whatever crowds the link towards this node.
 * Undefined when the node does not answer within 5 s.
 */
export async function probeDelayMs(url: string, dispatcher: Dispatcher, selfName: string): Promise<number | undefined> {
  const started = performance.now();
  try {
    const res = await request(`${url}/readyz`, { dispatcher, headers: { [NODE_HEADER]: selfName }, headersTimeout: 5000, bodyTimeout: 5000 });
    const ms = performance.now() - started;
    await res.body.dump();
    return ms;
  } catch {
    return undefined;
  }
}
