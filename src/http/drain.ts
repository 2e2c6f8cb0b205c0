import type { SluiceHttpServer } from './server.js';

/**
 * Closes the node's server cleanly: stops accepting, calls `release` (long-polls held open
 * answer now), lets in-flight requests finish (uploads, downloads) for up to `drainMs`, then
 * cuts what remains. Connections that finish a request begun before the close would otherwise
 * idle in keep-alive and hold the close open.
 */
export async function closeDrained(http: SluiceHttpServer, drainMs: number, release: () => void): Promise<void> {
  const server = http.server;
  const closing = http.close();
  release();
  // Once no request is being answered, whatever connections remain are idle: cut them.
  const reaper = setInterval(() => (http.inFlight() <= 0 ? server.closeAllConnections() : server.closeIdleConnections()), 50);
  const deadline = setTimeout(() => server.closeAllConnections(), drainMs);
  try {
    await closing;
  } finally {
    clearInterval(reaper);
    clearTimeout(deadline);
  }
}
