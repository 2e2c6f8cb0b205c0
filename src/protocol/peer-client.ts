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
}

/**
 * The one connection pool a node (or an agent) uses for every call to another node:
 * catalog follow, blob transfers, status and report pushes, probes. The TLS options live
 * here only. A renewed certificate takes effect with `update`: new connections present it,
 * requests already running finish on theirs.
 */
export class PeerClient {
  private agent: Agent;

  constructor(tls: PeerTls = {}) {
    this.agent = PeerClient.agentFor(tls);
  }

  get dispatcher(): Dispatcher {
    return this.agent;
  }

  update(tls: PeerTls): void {
    const old = this.agent;
    this.agent = PeerClient.agentFor(tls);
    // close() lets running requests (a transfer of hours) end on their own connection.
    void old.close().catch(() => undefined);
  }

  async close(): Promise<void> {
    await this.agent.destroy().catch(() => undefined);
  }

  private static agentFor(tls: PeerTls): Agent {
    const connect = { ...(tls.ca ? { ca: tls.ca } : {}), ...(tls.cert && tls.key ? { cert: tls.cert, key: tls.key } : {}), ...(tls.crl ? { crl: tls.crl } : {}), minVersion: 'TLSv1.2' as const };
    return new Agent({ connect });
  }
}
