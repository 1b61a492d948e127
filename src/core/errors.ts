/**
 * The errors that stop a start (or a running server) with one clear line. Each carries a stable `code` a program
 * can test instead of matching the text, and the underlying error as `cause` where there is one. The CLI prints
 * `message` alone, without a stack; an `LOGSERVER_ERR_BAD_OPTION` exits 2 (as a bad flag does), the others 1.
 */

/** Every code a ServerError can carry; the README lists them with their meaning. */
export const ERROR_CODES = [
  /** An option with a bad value (the command line's fault). */
  'LOGSERVER_ERR_BAD_OPTION',
  /** A port is already taken (another server runs there). */
  'LOGSERVER_ERR_ADDRESS_IN_USE',
  /** The host is not an address of this machine, or cannot be resolved. */
  'LOGSERVER_ERR_ADDRESS_NOT_AVAILABLE',
  /** Binding needs privileges (a port below 1024). */
  'LOGSERVER_ERR_PERMISSION',
  /** Listening failed for another reason. */
  'LOGSERVER_ERR_LISTEN',
  /** The target is locked by another running log-server. */
  'LOGSERVER_ERR_LOCKED',
  /** The target's lock could not be taken for another reason. */
  'LOGSERVER_ERR_LOCK',
  /** The lock was lost (removed, or taken over while this process was frozen): the server stopped. */
  'LOGSERVER_ERR_LOCK_LOST',
  /** A file (the target, the rejects file, a consumer's sequence record, a TLS file) cannot be opened or read. */
  'LOGSERVER_ERR_FILE',
  /** A --tls-cert, --tls-key or --tls-ca file is readable but cannot be used (not PEM, the key does not match ...). */
  'LOGSERVER_ERR_TLS',
  /** NATS cannot be reached, or its stream cannot be used as configured. */
  'LOGSERVER_ERR_NATS',
  /** Started where it cannot run: as a node:cluster worker (pm2 cluster mode). */
  'LOGSERVER_ERR_CLUSTER_WORKER',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** A reason the server cannot start or keep running. */
export class ServerError extends Error {
  /** True when the server has already said it on its reporter (a server that stopped on its own): not said again. */
  readonly reported: boolean;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; reported?: boolean },
  ) {
    super(message, options);
    this.name = 'ServerError';
    this.reported = options?.reported ?? false;
  }
}

/** An option with a bad value: the command line's fault (the CLI exits 2, as for an unknown flag). */
export class OptionError extends ServerError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('LOGSERVER_ERR_BAD_OPTION', message, options);
    this.name = 'OptionError';
  }
}

/** A file-system error as the few words a person needs ("no such file or directory", "disk full"…). */
export function describeFsError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOENT':
      return 'no such directory';
    case 'EISDIR':
      return 'it is a directory';
    case 'ENOSPC':
      return 'no space left on device';
    case 'EROFS':
      return 'read-only file system';
    case 'EIO':
      return 'I/O error';
    default:
      return e.message ?? String(err);
  }
}
