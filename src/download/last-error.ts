import type { SluiceError } from '../errors.js';

/** The node's most recent problem, and whether it still holds (protocol/status.ts `lastError`). */
export interface LastErrorView {
  code: string;
  message: string;
  /** When it was last seen. */
  at: string;
  /** When it was first seen in this run of failures. */
  since: string;
  /** What failed: catalog sync, or a transfer (`blob SHA…`). */
  source: string;
  /** When the operation that failed next succeeded; null while the error holds. */
  clearedAt: string | null;
}

/**
 * Remembers the last error with what raised it, so status can show an error while it holds
 * and, once the failing operation succeeds, only when it was last seen. A start-up NOT_READY
 * from the upstream must not sit next to "up to date" until the next restart.
 */
export class LastError {
  private current: (LastErrorView & { key: string }) | undefined;

  /** `key` names the operation (`catalog`, or a blob's sha256) whose success clears it. */
  note(e: SluiceError, key: string, source: string, now = new Date()): void {
    const at = now.toISOString();
    const same = this.current && this.current.key === key && this.current.code === e.code && this.current.clearedAt === null;
    this.current = { key, code: e.code, message: e.message, at, since: same ? this.current!.since : at, source, clearedAt: null };
  }

  /** The operation `key` succeeded (or is no longer wanted): its error no longer holds. */
  clear(key: string, now = new Date()): void {
    if (this.current && this.current.key === key && this.current.clearedAt === null) this.current.clearedAt = now.toISOString();
  }

  get view(): LastErrorView | undefined {
    if (!this.current) return undefined;
    const { key: _key, ...view } = this.current;
    return view;
  }
}
