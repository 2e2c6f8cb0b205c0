import * as oidc from 'openid-client';
import { grantFor } from '../auth/access-grants.js';
import type { Principal } from '../auth/roles.js';
import { SluiceError } from '../errors.js';
import type { Access } from '../topology/types.js';
import { PendingSignIns } from './pending-sign-ins.js';

/** A sign-in begun here and not yet back from the provider: PKCE verifier and nonce, by state. */
interface Pending {
  readonly verifier: string;
  readonly nonce: string;
  readonly next: string;
}

/**
 * Console sign-in with the organisation's OpenID Connect provider (`access.signIn`):
 * authorization code with PKCE through openid-client, the person's role from `access.people`
 * (by the provider's `nameClaim`) or else the first of `access.groups`, in file order, that
 * the provider's `groupsClaim` lists. Someone the configuration gives no role is refused.
 * Pending sign-ins live in memory, at most 1,000 for 10 minutes each and 20 per source
 * address (pending-sign-ins.ts).
 */
export class OidcSignIn {
  private config: Promise<oidc.Configuration> | undefined;
  private readonly pending = new PendingSignIns<Pending>();

  constructor(
    private readonly access: Access & { signIn: NonNullable<Access['signIn']> },
    private readonly redirectUri: string,
    private readonly clientSecret: string | undefined,
  ) {}

  /** The provider's authorization URL for a new sign-in from `source` (an address), and the state to bind to the browser. */
  async start(next: string, source: string): Promise<{ url: string; state: string }> {
    const config = await this.configuration();
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    this.pending.add(state, source, { verifier, nonce, next });
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: this.redirectUri,
      scope: 'openid email profile',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    return { url: url.href, state };
  }

  /**
   * The provider's answer (`callbackUrl`, with code and state), checked against the sign-in
   * this browser began (`boundState`, from its cookie): the person, the role they map to, and
   * their groups that `access.groups` lists (what their session checks again).
   */
  async finish(callbackUrl: URL, boundState: string | undefined): Promise<{ principal: Principal; groups: string[]; next: string }> {
    const state = callbackUrl.searchParams.get('state') ?? '';
    if (!boundState || boundState !== state) throw new SluiceError('UNAUTHORIZED', 'this sign-in was not begun in this browser, or took longer than 10 minutes; sign in again');
    const pending = this.pending.take(state);
    if (!pending) throw new SluiceError('UNAUTHORIZED', 'this sign-in was not begun in this browser, or took longer than 10 minutes; sign in again');
    const config = await this.configuration();
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(config, callbackUrl, { pkceCodeVerifier: pending.verifier, expectedState: state, expectedNonce: pending.nonce });
      const idClaims: Record<string, unknown> = tokens.claims() ?? {};
      // Groups are often released at the userinfo endpoint only.
      const info = await oidc.fetchUserInfo(config, tokens.access_token, String(idClaims.sub));
      claims = { ...info, ...idClaims };
    } catch (err) {
      throw new SluiceError('UNAUTHORIZED', `the identity provider's answer was refused: ${(err as Error).message}`, { cause: err });
    }
    return { ...this.principalOf(claims), next: pending.next };
  }

  /**
   * The role the configuration gives this person, or FORBIDDEN_ROLE. An email address names
   * a person only when the provider says it verified it (`email_verified: true`): many
   * providers let people type their own address, and one who typed an admin's would
   * otherwise become that admin. Other name claims must be ones people cannot set
   * themselves (docs/console.md).
   */
  principalOf(claims: Record<string, unknown>): { principal: Principal; groups: string[] } {
    const { nameClaim, groupsClaim } = this.access.signIn;
    const named = claims[nameClaim];
    const who = String(named ?? claims.sub ?? '').slice(0, 200);
    if (!who) throw new SluiceError('UNAUTHORIZED', `the identity provider gave neither "${nameClaim}" nor "sub"`);
    // Some providers' userinfo sends the flag as the string "true".
    if (nameClaim === 'email' && named !== undefined && claims.email_verified !== true && claims.email_verified !== 'true') {
      throw new SluiceError('EMAIL_UNVERIFIED', `the identity provider does not say that ${who} is a verified address (email_verified), so it cannot name a person here; verify the address at the provider, or have an admin set access.signIn.nameClaim to a claim people cannot set themselves (such as sub)`);
    }
    const raw = claims[groupsClaim];
    const groups = Array.isArray(raw) ? raw.map(String) : typeof raw === 'string' ? [raw] : [];
    const found = grantFor(this.access, who, groups);
    if (found) return { principal: { who, role: found.grant.role, scope: found.grant.scope, via: 'session' }, groups: found.groups };
    throw new SluiceError('FORBIDDEN_ROLE', `${who} signed in, but access.people and access.groups of the topology give them no role (their groups: ${groups.slice(0, 20).join(', ') || 'none'}); ask an admin to add them`);
  }

  private configuration(): Promise<oidc.Configuration> {
    const { issuer, clientId } = this.access.signIn;
    // Plain HTTP only for a provider on this host (a test's, or a local one); anywhere else
    // the provider must be HTTPS.
    const local = ['127.0.0.1', 'localhost', '[::1]'].includes(new URL(issuer).hostname);
    this.config ??= oidc
      .discovery(new URL(issuer), clientId, this.clientSecret, this.clientSecret ? undefined : oidc.None(), local ? { execute: [oidc.allowInsecureRequests] } : undefined)
      .catch((err: Error) => {
        this.config = undefined;
        throw new SluiceError('UPSTREAM_UNREACHABLE', `cannot reach the identity provider at ${issuer}: ${err.message}`, { cause: err });
      });
    return this.config;
  }
}
