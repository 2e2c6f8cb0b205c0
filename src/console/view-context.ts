import type { ConsoleSession } from '../auth/console-sessions.js';
import type { HttpDeps } from '../http/deps.js';

/** What every console view may read: the node's parts, and who is looking. */
export type ConsoleDeps = Pick<HttpDeps, 'topology' | 'node' | 'catalog' | 'writer' | 'status' | 'reports' | 'rollup' | 'sessions' | 'credentials' | 'audit' | 'tls' | 'refusals' | 'oidcClientSecret'>;

export interface ViewContext {
  readonly deps: ConsoleDeps;
  /** The signed-in session, if any. */
  readonly session: ConsoleSession | undefined;
  /** Full console (publish, approve, decline) only on the primary, signed in. */
  readonly canAct: boolean;
  readonly now: number;
  /** The version of a live topic now, written into the page so that its event stream starts from it. */
  readonly liveVersion: (topic: 'tree' | 'catalog' | 'reports') => string;
}
