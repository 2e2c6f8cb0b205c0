import type { SluiceHttpServer } from './server.js';

/**
 * Closes the node's server cleanly: stops accepting, calls `release` (long-polls held open
 * answer now), lets in-flight requests finish (uploads, downloads) until `deadline` (ms since
 * the epoch), then cuts every connection that remains, those still in their TLS handshake
 * included. Connections that finish a request begun before the close would otherwise idle
 * in keep-alive and hold the close open.
 */
export async function closeDrained(http: SluiceHttpServer, deadline: number, release: () => void): Promise<void> {
  const server = http.server;
  const closing = http.close();
  release();
  // Once no request is being answered, whatever connections remain are idle: cut them.
  const reaper = setInterval(() => (http.inFlight() <= 0 ? http.cutAll() : server.closeIdleConnections()), 50);
  const cut = setTimeout(() => http.cutAll(), Math.max(0, deadline - Date.now()));
  try {
    await closing;
  } finally {
    clearInterval(reaper);
    clearTimeout(cut);
  }
}
