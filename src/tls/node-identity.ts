import type { PeerCertificate } from 'node:tls';
import type { TlsFailureReason } from '../domain/labels.js';

/**
 * How a certificate names a Sluice node: a URI subject alternative name of the fixed form
 * `sluice://node/NAME`. Host names and addresses in the same certificate are for ordinary
 * TLS hostname checks; only this SAN says which node of the topology the holder is.
 */
export const NODE_URI_PREFIX = 'sluice://node/';

export const nodeUri = (name: string) => `${NODE_URI_PREFIX}${name}`;

/** The node a certificate names, from its `subjectaltname` ("URI:sluice://node/lyon, DNS:..."). */
export function nodeNameOf(cert: Pick<PeerCertificate, 'subjectaltname'> | undefined): string | undefined {
  const san = cert?.subjectaltname;
  if (!san) return undefined;
  for (const entry of san.split(/,\s*/)) {
    if (entry.startsWith(`URI:${NODE_URI_PREFIX}`)) return entry.slice(`URI:${NODE_URI_PREFIX}`.length);
  }
  return undefined;
}

export type { TlsFailureReason };

/** The reason of a TLS failure, from an OpenSSL verification code or a Node error code. */
export function tlsFailureReason(code: string | undefined, message = ''): TlsFailureReason {
  if (!code) return 'other';
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return 'expired';
  if (code === 'CERT_REVOKED') return 'revoked';
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH') return 'name_mismatch';
  if (code === 'ERR_SSL_HTTP_REQUEST' || /http request/i.test(message)) return 'plain_http';
  if (/UNABLE_TO_(GET_ISSUER|VERIFY_LEAF)|SELF_SIGNED|UNKNOWN_CA|TLSV1_ALERT_UNKNOWN_CA|CERT_SIGNATURE_FAILURE/.test(code)) return 'unknown_ca';
  if (/CERT|CERTIFICATE/.test(code)) return 'bad_certificate';
  return 'other';
}

/** The TLS error code carried by an error or its causes (undici wraps them). */
export function tlsErrorCode(err: unknown): string | undefined {
  for (let e = err as { code?: string; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (typeof e.code === 'string' && (/^ERR_TLS|^ERR_SSL|CERT|UNABLE_TO|SELF_SIGNED/.test(e.code))) return e.code;
  }
  return undefined;
}
