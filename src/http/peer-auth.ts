import type { FastifyReply, FastifyRequest } from 'fastify';
import type { RefusalThrottle } from '../auth/refusal-throttle.js';
import { NODE_HEADER } from '../protocol/headers.js';
import type { TLSSocket } from 'node:tls';
import type { AdminTokens } from '../auth/admin-tokens.js';
import { SluiceError } from '../errors.js';
import { nodeNameOf } from '../tls/node-identity.js';
import type { Topology } from '../topology/types.js';

/** Who is calling, as far as node-to-node calls go. */
export interface NodeCaller {
  /** The node proven by a certificate or a per-node token; undefined for the legacy shared token. */
  readonly node: string | undefined;
  readonly via: 'certificate' | 'token' | 'shared-token';
}

/**
 * Tells which node a request comes from, from proof rather than from the body:
 * - mutual TLS: a client certificate that verified against trust.ca and names a node of the
 *   topology (SAN `sluice://node/NAME`);
 * - where TLS ends before the node (a site's reverse proxy): the node's own peer token, one
 *   per node (SLUICE_PEER_TOKENS=NAME=TOKEN,...);
 * - the tree-wide SLUICE_PEER_TOKEN of earlier versions, still accepted, names no node: the
 *   caller is whoever the body claims (warned about at start-up and by `sluice check`).
 */
export class PeerAuth {
  private readonly refusalsLogged = new Set<string>();

  constructor(
    private readonly topology: Topology,
    private readonly childTokens: AdminTokens,
    private readonly sharedToken: AdminTokens,
    private readonly refusals?: RefusalThrottle,
  ) {}

  /**
   * `authenticate` as a request hook: a source address that keeps presenting wrong peer
   * tokens is slowed and logged like one guessing admin tokens (auth/refusal-throttle.ts).
   */
  async authenticateThrottled(request: FastifyRequest, reply: FastifyReply): Promise<NodeCaller> {
    if (!this.refusals) return this.authenticate(request);
    await this.refusals.check(request.ip, (s) => void reply.header('retry-after', String(s)));
    try {
      return this.authenticate(request);
    } catch (err) {
      if (err instanceof SluiceError && (err.code === 'UNAUTHORIZED' || err.code === 'FORBIDDEN')) await this.refusals.refused(request.ip, 'peer', request.url, err.code);
      throw err;
    }
  }

  /**
   * The node a blob read is charged to for per-child budgets and paces: one proven by its
   * certificate, its own peer token, or (earlier versions' tree-wide token) the token and the
   * name it gives. A bare X-Sluice-Node header proves nothing: it would let anyone spend a
   * branch's share of its upstream. Undefined: charged as an endpoint.
   */
  provenNodeOf(raw: { readonly headers: Record<string, string | string[] | undefined>; readonly socket: unknown }): string | undefined {
    const certified = this.certifiedNodeOf(raw.socket);
    if (certified) return certified;
    const header = raw.headers.authorization;
    if (typeof header !== 'string') return undefined;
    if (this.childTokens.configured) {
      try {
        return this.childTokens.authenticate(header);
      } catch {
        // not a per-node token: perhaps the tree-wide one
      }
    }
    if (!this.sharedToken.configured) return undefined;
    try {
      this.sharedToken.authenticate(header);
    } catch {
      return undefined;
    }
    const claimed = raw.headers[NODE_HEADER];
    return typeof claimed === 'string' && this.topology.nodes.has(claimed) ? claimed : undefined;
  }

  /** The node a verified client certificate names, if any. */
  certifiedNode(request: FastifyRequest): string | undefined {
    return this.certifiedNodeOf(request.raw.socket);
  }

  /** The same, from the connection itself (the blob fast path runs before the framework). */
  certifiedNodeOf(rawSocket: unknown): string | undefined {
    const socket = rawSocket as Partial<TLSSocket>;
    if (!socket.encrypted || !socket.authorized || !socket.getPeerCertificate) return undefined;
    const name = nodeNameOf(socket.getPeerCertificate());
    return name && this.topology.nodes.has(name) ? name : undefined;
  }

  /** True the first time `peer` is refused for `reason`: refusals are logged once per peer. */
  firstRefusal(peer: string, reason: string): boolean {
    const key = `${peer}\u0000${reason}`;
    if (this.refusalsLogged.has(key)) return false;
    this.refusalsLogged.add(key);
    return true;
  }

  /** The caller, or 401 (no proof) / 403 (a token this node does not accept). */
  authenticate(request: FastifyRequest): NodeCaller {
    const certified = this.certifiedNode(request);
    if (certified) return { node: certified, via: 'certificate' };
    const header = request.headers.authorization;
    if (!header) throw new SluiceError('UNAUTHORIZED', 'node-to-node calls need the calling node\'s certificate (mutual TLS) or its peer token ("Authorization: Bearer", SLUICE_PEER_TOKEN)');
    if (this.childTokens.configured) {
      try {
        return { node: this.childTokens.authenticate(header), via: 'token' };
      } catch (err) {
        if (!this.sharedToken.configured) throw err;
      }
    }
    this.sharedToken.authenticate(header);
    return { node: undefined, via: 'shared-token' };
  }
}
