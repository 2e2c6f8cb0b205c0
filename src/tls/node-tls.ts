import type { Secrets } from '../auth/secrets.js';
import { SluiceError } from '../errors.js';
import type { Logger } from '../log/logger.js';
import type { Metrics } from '../metrics/metrics.js';
import type { NodeSpec, Topology } from '../topology/types.js';
import { loadCaBundle, loadTlsMaterial, watchTlsMaterial, type TlsMaterial } from './tls-files.js';

/** What this node presents when it calls other nodes (the peer connection pool takes it). */
export interface ClientTls {
  readonly ca?: string | undefined;
  readonly cert?: string | undefined;
  readonly key?: string | undefined;
  readonly crl?: string | undefined;
}

/**
 * This node's certificate and key (SLUICE_TLS_CERT, SLUICE_TLS_KEY): required when its url is
 * https://, presented to its upstream for mutual TLS whenever present, and watched: a renewed
 * pair (or CA bundle, or CRL) is used for new connections without a restart.
 */
export class NodeTls {
  /** What the node serves with; undefined on a plain-HTTP node. */
  served: TlsMaterial | undefined;
  private stopWatching: (() => void) | undefined;

  constructor(
    private readonly spec: NodeSpec,
    private readonly topology: Topology,
    private readonly secrets: Secrets,
    private readonly metrics: Metrics,
    private readonly log: Logger,
    /** Hands the client side its material (at load and on every reload). */
    private readonly present: (m: ClientTls) => void,
  ) {}

  /** Loads the files; throws TLS_INVALID when an https:// node has no pair or the files are unusable. */
  load(): void {
    const https = this.spec.url.startsWith('https:');
    const caPath = this.topology.trust.caPath;
    const { tlsCertPath, tlsKeyPath } = this.secrets;
    if (!tlsCertPath || !tlsKeyPath) {
      if (https) throw new SluiceError('TLS_INVALID', `node ${this.spec.name} has an https:// url but no certificate: set SLUICE_TLS_CERT and SLUICE_TLS_KEY (create a pair with "sluice cert node ${this.spec.name} --ca-dir DIR --out DIR")`);
      this.present({ ca: caPath ? loadCaBundle(caPath) : undefined });
      return;
    }
    this.apply(loadTlsMaterial(this.paths()));
  }

  /** Checks the files every `intervalMs`; `serve` gets renewed material for the server side. */
  watch(intervalMs: number, serve: (m: TlsMaterial) => void): void {
    if (!this.secrets.tlsCertPath || !this.secrets.tlsKeyPath) return;
    this.stopWatching = watchTlsMaterial(
      this.paths(),
      intervalMs,
      (m) => {
        this.apply(m);
        if (this.served) serve(m);
        this.log.info({ expires: new Date(m.notAfterMs).toISOString() }, 'TLS certificate reloaded; new connections use it');
      },
      (err) => this.log.error({ code: err.code }, `TLS files changed but cannot be used (${err.message}); keeping the previous certificate`),
    );
  }

  stop(): void {
    this.stopWatching?.();
  }

  private paths() {
    return { certPath: this.secrets.tlsCertPath!, keyPath: this.secrets.tlsKeyPath!, caPath: this.topology.trust.caPath, crlPath: this.topology.trust.crlPath };
  }

  private apply(m: TlsMaterial): void {
    this.served = this.spec.url.startsWith('https:') ? m : undefined;
    this.present({ ca: m.ca, cert: m.cert, key: m.key, crl: m.crl });
    this.metrics.tlsCertExpiry.set(m.notAfterMs / 1000);
  }
}
