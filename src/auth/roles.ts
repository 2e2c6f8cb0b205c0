import { ROLES, type Role } from '../domain/roles.js';

/**
 * Who may do what (README "Security model"): five roles, three of them scoped. A scope is a
 * list of names or patterns (`emea-*`: `*` matches any run of characters); an empty or
 * missing scope on a scoped role allows nothing.
 */
export { ROLES, type Role };

export interface Scope {
  /** approver: the rings it may approve or decline for. */
  readonly rings?: readonly string[];
  /** operator: the nodes it may verify, import into and restore on. */
  readonly nodes?: readonly string[];
  /** auditor: the regions and sites whose reports it may read. */
  readonly regions?: readonly string[];
  readonly sites?: readonly string[];
}

/** An authenticated caller: a named token, an environment token, or a console session. */
export interface Principal {
  readonly who: string;
  readonly role: Role;
  readonly scope: Scope;
  /** How the caller proved itself: a token from the environment, a named token, a console session. */
  readonly via: 'env' | 'token' | 'session';
}

/** What a request does, as the role check names it. */
export type Action =
  | 'publish'
  | 'restore'
  | 'approve'
  | 'decline'
  | 'verify'
  | 'import'
  | 'reports'
  | 'audit'
  | 'root'
  | 'feeds'
  | 'promotions'
  | 'tokens';

/** Which roles may take each action at all (scopes narrow it further). */
const ALLOWED: Readonly<Record<Action, readonly Role[]>> = {
  publish: ['admin', 'publisher'],
  restore: ['admin', 'publisher', 'operator'],
  approve: ['admin', 'approver'],
  decline: ['admin', 'approver'],
  verify: ['admin', 'operator'],
  import: ['admin', 'operator'],
  reports: ['admin', 'auditor', 'operator'],
  audit: ['admin', 'auditor'],
  root: ['admin'],
  feeds: ['admin', 'publisher'],
  promotions: ['admin', 'approver'],
  tokens: ['admin'],
};

/** Each action as a sentence's verb phrase: "may not read reports", "may not manage tokens". */
const PHRASE: Readonly<Record<Action, string>> = {
  publish: 'publish',
  restore: 'restore files',
  approve: 'approve',
  decline: 'decline',
  verify: 'verify',
  import: 'import',
  reports: 'read reports',
  audit: 'read the audit trail',
  root: 'change the root of trust',
  feeds: 'sync feeds',
  promotions: 'read the promotion gates',
  tokens: 'manage tokens',
};

/** `action` as words for a message ("read reports"). */
export const actionWords = (action: Action): string => PHRASE[action];

/** The roles that may take `action` (for messages and the console). */
export function rolesFor(action: Action): readonly Role[] {
  return ALLOWED[action];
}

export function roleAllows(role: Role, action: Action): boolean {
  return ALLOWED[action].includes(role);
}

/** Whether `name` matches a scope entry: exact, or a pattern with `*`. */
export function scopeMatches(patterns: readonly string[] | undefined, name: string): boolean {
  return (patterns ?? []).some((p) => (p.includes('*') ? globToRegExp(p).test(name) : p === name));
}

/** The ring that means every machine (catalog RING_ALL). */
const EVERY_RING = 'all';

/**
 * Whether an approver's scope covers `ring`. The ring `all` reaches every machine, so only a
 * scope of `*` (every ring) covers it: a pattern that happens to match the word ("a*", "*l")
 * names some rings, not every one.
 */
export function ringInScope(patterns: readonly string[] | undefined, ring: string): boolean {
  return ring === EVERY_RING ? (patterns ?? []).includes('*') : scopeMatches(patterns, ring);
}

function globToRegExp(pattern: string): RegExp {
  return new RegExp(`^${pattern.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
}

/**
 * Why `p` may not take `action` on `target` (undefined: it may). Admin may do everything;
 * an approver only for rings its scope names (every ring of the approval); an operator only
 * on nodes its scope names; an auditor's scope narrows what it reads, not whether.
 */
export function refusalOf(p: Principal, action: Action, target: { rings?: readonly string[]; node?: string } = {}): string | undefined {
  if (!roleAllows(p.role, action)) return `${p.who} (${p.role}) may not ${actionWords(action)}: that needs the role ${ALLOWED[action].join(' or ')}`;
  if (p.role === 'approver' && (action === 'approve' || action === 'decline')) {
    const outside = (target.rings ?? []).filter((r) => !ringInScope(p.scope.rings, r));
    if (outside.length) return `${p.who} (approver for ${(p.scope.rings ?? []).join(', ') || 'no rings'}) may not ${action} for ${outside.join(', ')}${outside.includes('all') && !(p.scope.rings ?? []).includes('*') ? ` (name a ring of yours: --ring ${(p.scope.rings ?? []).find((r) => !r.includes('*')) ?? 'RING'})` : ''}`;
  }
  if (p.role === 'operator' && target.node !== undefined && !scopeMatches(p.scope.nodes, target.node)) {
    return `${p.who} (operator of ${(p.scope.nodes ?? []).join(', ') || 'no nodes'}) may not ${action} on ${target.node}`;
  }
  return undefined;
}
