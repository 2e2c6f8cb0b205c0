import { html, type Html } from '../html.js';
import { page } from '../layout.js';
import type { ViewContext } from '../view-context.js';

/** Sign-in with an admin token; `error` is shown (and announced) after a failed attempt. */
export function signInPage(ctx: ViewContext, next: string, formToken: string, error?: string): Html {
  const body = html`
<h1>Sign in</h1>
<p class="lede">Paste an admin token of this node (one of <code>SLUICE_ADMIN_TOKEN</code>). It is checked once and exchanged for a session; the browser never keeps it.</p>
${error ? html`<p class="alert" role="alert" id="sign-in-error">${error}</p>` : ''}
<form method="post" action="/ui/sign-in" class="panel narrow">
  <input type="hidden" name="_csrf" value="${formToken}">
  <input type="hidden" name="next" value="${next}">
  <label>Admin token <input type="password" name="token" required autocomplete="off" autofocus${error ? html` aria-describedby="sign-in-error" aria-invalid="true"` : ''}></label>
  <button type="submit">Sign in</button>
</form>`;
  return page(ctx, 'sign-in', 'Sign in', body);
}

/** Any error, as a page: its code, what to do, and the way back. */
export function errorPage(ctx: ViewContext, code: string, message: string): Html {
  return page(ctx, 'sign-in', code, html`<h1>${code}</h1><p class="alert" role="alert">${message}</p><p><a href="/ui/packages">Back to the console</a></p>`);
}
