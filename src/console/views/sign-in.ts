import { html, type Html } from '../html.js';
import { page } from '../layout.js';
import type { ViewContext } from '../view-context.js';

/**
 * Sign-in with the organisation's identity provider when the topology names one, or with a
 * token of this node; `error` is shown (and announced) after a failed attempt, `notice` when
 * a session has just ended.
 */
export function signInPage(ctx: ViewContext, next: string, formToken: string, error?: string, notice?: string): Html {
  const provider = ctx.deps.topology.access.signIn;
  const body = html`
<h1>Sign in</h1>
${provider ? html`<p><a class="button" href="/ui/sign-in/oidc?next=${encodeURIComponent(next)}">Sign in with your organisation</a></p><p class="lede">Or paste a token of this node instead.</p>` : ''}
<p class="lede">Paste a token of this node (a named token from <code>sluice token add</code>, or one of <code>SLUICE_ADMIN_TOKEN</code>). It is exchanged for a session, which ends when the token is revoked or expires; the browser never keeps the token.</p>
${error ? html`<p class="alert" role="alert" id="sign-in-error">${error}</p>` : notice ? html`<p class="alert" role="alert" id="session-ended">${notice}</p>` : ''}
<form method="post" action="/ui/sign-in" class="panel narrow">
  <input type="hidden" name="_csrf" value="${formToken}">
  <input type="hidden" name="next" value="${next}">
  <label>Token <input type="password" name="token" required autocomplete="off" autofocus${error ? html` aria-describedby="sign-in-error" aria-invalid="true"` : ''}></label>
  <button type="submit">Sign in</button>
</form>`;
  return page(ctx, 'sign-in', 'Sign in', body);
}

/** Any error, as a page: its code, what to do, and the way back. */
export function errorPage(ctx: ViewContext, code: string, message: string): Html {
  return page(ctx, 'sign-in', code, html`<h1>${code}</h1><p class="alert" role="alert">${message}</p><p><a href="/ui/packages">Back to the console</a></p>`);
}

/** After the identity provider's sign-in: moves on to `next` from a page of this site. */
export function signedInPage(ctx: ViewContext, next: string): Html {
  return page(ctx, 'sign-in', 'Signed in', html`<meta http-equiv="refresh" content="0;url=${next}"><h1>Signed in</h1><p><a href="${next}" id="continue">Continue</a></p>`);
}
