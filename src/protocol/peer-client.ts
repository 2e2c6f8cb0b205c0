import { Agent, type Dispatcher } from 'undici';

/** What a node presents and trusts when it calls other nodes over HTTPS. */
export interface PeerTls {
  /** Trust anchors for the peers' server certificates (trust.ca); undefined: the system's CAs. */
  readonly ca?: string | undefined;
  /** This node's certificate and key, presented for mutual TLS. */
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  /** Revoked certificates (trust.crl): an upstream presenting one is refused. */
  readonly crl?: string | undefined;
  /**
   * This node's peer token (SLUICE_PEER_TOKEN), sent on every call that carries none of its
   * own: where TLS ends before the node, it is the only proof of which node reads a blob, so
   * per-child budgets and paces are charged to the right child.
   */
  readonly peerToken?: string | undefined;
}

/**
 * The one connection pool a node (or an agent) uses for every call to another node:
 * catalog follow, blob transfers, status and report pushes, probes. The TLS options live
 * here only. A renewed certificate takes effect with `update`: new connections present it,
 * requests already running finish on theirs.
 */
export class PeerClient {
  private agent: Agent;
  private composed: Dispatcher;

  constructor(tls: PeerTls = {}) {
    this.agent = PeerClient.agentFor(tls);
    this.composed = PeerClient.withToken(this.agent, tls.peerToken);
  }

  get dispatcher(): Dispatcher {
    return this.composed;
  }

  update(tls: PeerTls): void {
    const old = this.agent;
    this.agent = PeerClient.agentFor(tls);
    this.composed = PeerClient.withToken(this.agent, tls.peerToken);
    // close() lets running requests (a transfer of hours) end on their own connection.
    void old.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.agent.destroy().catch(() => undefined);
  }

  private static withToken(agent: Agent, token: string | undefined): Dispatcher {
    if (!token) return agent;
    const authorization = `Bearer ${token}`;
    return agent.compose((dispatch) => (opts, handler) => {
      const headers = opts.headers;
      if (headers === undefined || headers === null) return dispatch({ ...opts, headers: { authorization } }, handler);
      if (Array.isArray(headers) || typeof (headers as Iterable<unknown>)[Symbol.iterator] === 'function') return dispatch(opts, handler);
      const own = headers as Record<string, unknown>;
      return own.authorization !== undefined || own.Authorization !== undefined ? dispatch(opts, handler) : dispatch({ ...opts, headers: { ...own, authorization } }, handler);
    });
  }

  private static agentFor(tls: PeerTls): Agent {
    const connect = { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}), ...(tls.crl ? { crl: tls.crl } : {}), minVersion: 'TLSv1.2' as const };
    return new Agent({ connect });
  }
}
