/**
 * The one error catalogue. Every failure a user, a script or a peer node can meet has a
 * stable `code` here, the HTTP status that fits it, and whether retrying can help.
 * `docs/errors.md` lists the same codes with "how to fix"; a test keeps the two in step.
 */
export const ERROR_CATALOGUE = {
  // configuration and start-up
  TOPOLOGY_NOT_FOUND: { status: 500, retryable: false },
  TOPOLOGY_INVALID: { status: 500, retryable: false },
  UNKNOWN_NODE: { status: 500, retryable: false },
  KEY_MISSING: { status: 500, retryable: false },
  KEY_INVALID: { status: 500, retryable: false },
  KEY_MISMATCH: { status: 500, retryable: false },
  SECRETS_INVALID: { status: 500, retryable: false },
  DATA_DIR_LOCKED: { status: 500, retryable: false },
  LISTEN_FAILED: { status: 500, retryable: false },
  TLS_INVALID: { status: 500, retryable: false },
  // requests
  BAD_REQUEST: { status: 400, retryable: false },
  INVALID_BLOB_ID: { status: 400, retryable: false },
  INVALID_PACKAGE_ID: { status: 400, retryable: false },
  INVALID_UPLOAD: { status: 400, retryable: false },
  UNKNOWN_RING: { status: 400, retryable: false },
  UNAUTHORIZED: { status: 401, retryable: false },
  FORBIDDEN: { status: 403, retryable: false },
  FORBIDDEN_ROLE: { status: 403, retryable: false },
  TOKEN_EXPIRED: { status: 401, retryable: false },
  TOKEN_EXISTS: { status: 409, retryable: false },
  TOKEN_NOT_FOUND: { status: 404, retryable: false },
  TOO_MANY_ATTEMPTS: { status: 429, retryable: true },
  CSRF_REJECTED: { status: 403, retryable: false },
  SESSION_ENDED: { status: 401, retryable: false },
  EMAIL_UNVERIFIED: { status: 403, retryable: false },
  ROUTE_NOT_FOUND: { status: 404, retryable: false },
  BLOB_NOT_FOUND: { status: 404, retryable: true },
  BLOB_PENDING: { status: 404, retryable: true },
  PACKAGE_NOT_FOUND: { status: 404, retryable: false },
  NOT_PRIMARY: { status: 409, retryable: false },
  PUSH_BASE_UNKNOWN: { status: 409, retryable: true },
  PUSH_INVALID: { status: 400, retryable: false },
  IMPORT_INVALID: { status: 400, retryable: false },
  IMPORT_TAMPERED: { status: 422, retryable: false },
  IMPORT_GAP: { status: 409, retryable: false },
  PACKAGE_EXISTS: { status: 409, retryable: false },
  ALREADY_APPROVED: { status: 409, retryable: false },
  SUPERSEDED_FOR_RING: { status: 409, retryable: false },
  NOT_APPROVED_FOR_RING: { status: 409, retryable: false },
  ALREADY_DECLINED: { status: 409, retryable: false },
  PAYLOAD_TOO_LARGE: { status: 413, retryable: false },
  UNSUPPORTED_MEDIA_TYPE: { status: 415, retryable: false },
  RANGE_NOT_SATISFIABLE: { status: 416, retryable: false },
  NOT_READY: { status: 503, retryable: true },
  RELAY_FAILED: { status: 503, retryable: true },
  STORE_IO: { status: 500, retryable: true },
  STORE_FULL: { status: 507, retryable: true },
  INTERNAL: { status: 500, retryable: true },
  // catalog integrity (downstream verification)
  CATALOG_CHAIN_BROKEN: { status: 502, retryable: true },
  CATALOG_SIGNATURE_INVALID: { status: 502, retryable: true },
  CATALOG_ROLLBACK: { status: 502, retryable: true },
  CATALOG_EXPIRED: { status: 502, retryable: true },
  CATALOG_MALFORMED: { status: 502, retryable: true },
  CATALOG_ROOT_INVALID: { status: 502, retryable: true },
  CATALOG_STALE: { status: 502, retryable: true },
  CATALOG_UNVERIFIED: { status: 502, retryable: true },
  // vendor feeds (the primary following an APT or RPM repository)
  FEED_KEYRING: { status: 500, retryable: false },
  FEED_UNREACHABLE: { status: 502, retryable: true },
  FEED_SIGNATURE: { status: 502, retryable: true },
  FEED_STALE: { status: 502, retryable: true },
  FEED_ROLLBACK: { status: 502, retryable: true },
  FEED_HASH_MISMATCH: { status: 502, retryable: true },
  FEED_MALFORMED: { status: 502, retryable: true },
  FEED_TOO_LARGE: { status: 502, retryable: true },
  FEED_NOT_FOUND: { status: 404, retryable: false },
  ADVISORY_NOT_FOUND: { status: 404, retryable: false },
  FEED_CONFLICT: { status: 409, retryable: false },
  FEED_PACKAGE_SIGNATURE: { status: 502, retryable: false },
  // transfers and peers
  UPSTREAM_UNREACHABLE: { status: 502, retryable: true },
  UPSTREAM_BAD_RESPONSE: { status: 502, retryable: true },
  UPSTREAM_TLS_REFUSED: { status: 502, retryable: false },
  TRANSFER_STALLED: { status: 504, retryable: true },
  HASH_MISMATCH: { status: 502, retryable: true },
  // command line
  USAGE: { status: 400, retryable: false },
  SERVER_UNREACHABLE: { status: 502, retryable: true },
  FILE_NOT_READABLE: { status: 400, retryable: false },
  AGENT_BUSY: { status: 409, retryable: true },
} as const satisfies Record<string, { status: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export class SluiceError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly retryable: boolean;
  /** Extra lines a CLI prints under the message (e.g. every topology error). */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, options: { cause?: unknown; details?: readonly string[] } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'SluiceError';
    this.code = code;
    this.status = ERROR_CATALOGUE[code].status;
    this.retryable = ERROR_CATALOGUE[code].retryable;
    this.details = options.details ?? [];
  }

  toJSON(): { error: { code: ErrorCode; message: string; details?: readonly string[] } } {
    return { error: { code: this.code, message: this.message, ...(this.details.length ? { details: this.details } : {}) } };
  }
}

export function isSluiceError(err: unknown, code?: ErrorCode): err is SluiceError {
  return err instanceof SluiceError && (code === undefined || err.code === code);
}

/**
 * The one place where foreign errors (errno, undici, LevelDB) become catalogue errors.
 * `context` names what was being done, so the message tells the user where to look;
 * `fallback` is the code of anything not recognised (STORE_IO for this node's own disk).
 */
export function toSluiceError(err: unknown, context: string, fallback: ErrorCode = 'INTERNAL'): SluiceError {
  if (err instanceof SluiceError) return err;
  const e = err as { code?: string; message?: string; cause?: { message?: string } } | undefined;
  const code = e?.code ?? '';
  const msg = e?.message ?? String(err);
  if (code === 'LEVEL_DATABASE_NOT_OPEN' && /lock/i.test(`${msg} ${e?.cause?.message ?? ''}`)) {
    return new SluiceError('DATA_DIR_LOCKED', `${context}: the data directory is in use by another Sluice process; stop it first or give this node its own 'data' directory`, { cause: err });
  }
  if (code === 'ENOSPC') return new SluiceError('STORE_IO', `${context}: the disk is full; free space or move the node's data directory`, { cause: err });
  if (code === 'EACCES' || code === 'EPERM') return new SluiceError('STORE_IO', `${context}: permission denied (${msg}); give the Sluice user write access`, { cause: err });
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ECONNRESET' || code.startsWith('UND_ERR_')) {
    return new SluiceError('UPSTREAM_UNREACHABLE', `${context}: ${code} ${msg}`, { cause: err });
  }
  return new SluiceError(fallback, `${context}: ${msg}`, { cause: err });
}

/** A file system error in words a user acts on: "no such file", not "ENOENT". */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e?.code) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
    case 'EPERM':
      return "permission denied (check the file's owner and mode)";
    case 'EISDIR':
      return 'is a directory, expected a file';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    default:
      return e?.message ?? String(err);
  }
}
