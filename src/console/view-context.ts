import type { ConsoleSession } from '../auth/console-sessions.js';
import type { HttpDeps } from '../http/deps.js';
import type { Action } from '../auth/roles.js';

/** What every console view may read: the node's parts, and who is looking. */
export type ConsoleDeps = Pick<HttpDeps, 'topology' | 'node' | 'catalog' | 'writer' | 'status' | 'reports' | 'rollup' | 'sessions' | 'credentials' | 'audit' | 'tls' | 'refusals' | 'oidcClientSecret' | 'promotions' | 'advisories' | 'approvalCheck'>;

/** What a page may follow live (console/live-events.ts LIVE_TOPICS). */
export type LiveTopicName = 'tree' | 'catalog' | 'reports' | 'holdings';

export interface ViewContext {
  readonly deps: ConsoleDeps;
  /** The signed-in session, if any. */
  readonly session: ConsoleSession | undefined;
  /** Full console (publish, approve, decline) only on the primary, signed in. */
  readonly canAct: boolean;
  /**
   * Whether the signed-in person's role may take `action` here: the console shows only what
   * they may do, and the server still refuses anything else (FORBIDDEN_ROLE).
   */
  readonly may: (action: Action) => boolean;
  readonly now: number;
  /** The version of a live topic now, written into the page so that its event stream starts from it. */
  readonly liveVersion: (topic: LiveTopicName) => string;
}
