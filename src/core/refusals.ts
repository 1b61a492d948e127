/**
 * Why a record, a request or a connection was refused: one typed list of stable codes, used in the stderr
 * lines, the metrics' `reason` label, the stop summary and the rejects file. The README's "Refused frames"
 * table describes each.
 */

/** Reasons a frame, datagram or request is refused (counted per input, kept in the rejects file). */
export const REFUSAL_CODES = [
  // The decoders' (any input)
  'bad-pickle',
  'not-a-dict',
  'bad-created',
  'too-deep',
  'cyclic',
  'too-large',
  // Framing
  'frame-too-large',
  'truncated-frame',
  'bad-datagram',
  // The writer behind (UDP only: TCP and HTTP wait instead)
  'overflow',
  // --allow
  'not-allowed',
  // HTTP requests that are not a record
  'not-found',
  'bad-method',
  'unauthorized',
  'bad-content-type',
  'bad-request',
  'slow-request',
  // TLS: the connection broke after its handshake (bytes that are not TLS records, a record that fails to decrypt)
  'tls-bad-record',
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

/** The refusals a decoder makes (a RefusedRecord's code). */
export type RecordRefusalCode = Extract<RefusalCode, 'bad-pickle' | 'not-a-dict' | 'bad-created' | 'too-deep' | 'cyclic' | 'too-large'>;

/** Reasons a connection is closed at once, before a byte of it is read. */
export const CONNECTION_REFUSAL_CODES = ['not-allowed', 'too-many-connections', 'too-many-from-client', 'no-worker'] as const;
export type ConnectionRefusalCode = (typeof CONNECTION_REFUSAL_CODES)[number];

/**
 * Reasons a TLS handshake fails (with --tls-cert): the connection is closed before a byte of it is read as a
 * record. Counted by input (log_server_tls_handshakes_failed_total) and said on stderr.
 */
export const TLS_HANDSHAKE_REFUSAL_CODES = [
  /** The client did not start a TLS handshake: a plain SocketHandler or HTTPHandler, or anything else. */
  'not-tls',
  /** --tls-ca is set and the client sent no certificate. */
  'tls-no-client-cert',
  /** The client's certificate does not verify against --tls-ca (another CA, self-signed, a broken chain). */
  'tls-untrusted-cert',
  /** The client's certificate has expired. */
  'tls-expired-cert',
  /** The client's certificate fails verification for another reason (not yet valid, wrong purpose ...). */
  'tls-bad-cert',
  /** The client refused the server's certificate (it does not trust its CA, or the name does not match). */
  'tls-server-cert-refused',
  /** The handshake did not complete within --tls-handshake-timeout. */
  'tls-handshake-timeout',
  /** Any other failure: the client went away in the handshake, no common protocol version or cipher ... */
  'tls-handshake-failed',
] as const;
export type TlsHandshakeRefusalCode = (typeof TLS_HANDSHAKE_REFUSAL_CODES)[number];

/**
 * Refusals counted and reported but not kept in the rejects file: a sender outside --allow (nothing from it is
 * stored), UDP overflow (keeping it would add to the very backlog that caused it), and a broken TLS stream
 * (there is no frame to keep: what arrived cannot be decrypted).
 */
export const NOT_KEPT: ReadonlySet<RefusalCode> = new Set<RefusalCode>(['not-allowed', 'overflow', 'tls-bad-record']);

/** Why a record cannot be written; `code` is stable and used in reports and metrics. */
export class RefusedRecord extends Error {
  constructor(
    readonly code: RecordRefusalCode,
    message: string,
  ) {
    super(message);
    this.name = 'RefusedRecord';
  }
}

/** A refused frame as kept in the rejects file: `frame` is its payload (or what arrived of it) in base64. */
export interface RejectedFrame {
  client: string;
  /** The input it came by, when not TCP. */
  input?: 'udp' | 'http';
  reason: RefusalCode;
  detail: string;
  length?: number;
  frame?: string;
}
