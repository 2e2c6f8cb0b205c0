import { refusalOf } from '../auth/roles.js';
import { RING_ALL } from '../catalog/records.js';
import { SluiceError } from '../errors.js';
import type { ViewContext } from './view-context.js';

/**
 * The rings the signed-in person may approve for or withdraw from, as the server will judge
 * it (auth/roles.ts): an admin every ring and `all`, an approver the rings its scope covers
 * (`all` only with `*`). Forms offer only these; the /v1 routes refuse the rest anyway.
 */
export function ringsInScope(ctx: ViewContext, action: 'approve' | 'decline'): string[] {
  // The widest choice last: `all` sends a package to every site.
  const rings = [...ctx.deps.topology.rings.filter((r) => r !== RING_ALL), RING_ALL];
  return rings.filter((ring) => mayOnRings(ctx, action, [ring]));
}

/** Whether the signed-in person may take `action` on every one of `rings` here. */
export function mayOnRings(ctx: ViewContext, action: 'approve' | 'decline', rings: readonly string[]): boolean {
  return ctx.may(action) && refusalOf(ctx.session!.principal, action, { rings }) === undefined;
}

/** Refuses, as the API would (403 FORBIDDEN_ROLE), to prepare an act outside the person's scope. */
export function requireRings(ctx: ViewContext, action: 'approve' | 'decline', rings: readonly string[]): void {
  const why = ctx.session ? refusalOf(ctx.session.principal, action, { rings }) : 'sign in first';
  if (why) throw new SluiceError('FORBIDDEN_ROLE', `${why}; this console offers only the rings you may act on`);
}
