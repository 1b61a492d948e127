import type { AddressInfo, Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServerError, type ErrorCode } from '../core/errors';

/** Listens, turning the usual failures into one readable line. */
export function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(listenError(`${host}:${port}`, err));
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** A bind or listen failure as one readable line: `cannot listen on WHERE: why`. */
export function listenError(where: string, err: NodeJS.ErrnoException): ServerError {
  const [code, why] = LISTEN_ERRORS[err.code ?? ''] ?? ['LOGSERVER_ERR_LISTEN', err.message];
  return new ServerError(code, `cannot listen on ${where}: ${why}`, { cause: err });
}

/** The system's error codes for a failed bind or listen, as the server's code and a few words. */
const LISTEN_ERRORS: Record<string, [ErrorCode, string]> = {
  EADDRINUSE: ['LOGSERVER_ERR_ADDRESS_IN_USE', 'the address is already in use (is another server running?)'],
  EADDRNOTAVAIL: ['LOGSERVER_ERR_ADDRESS_NOT_AVAILABLE', 'the address does not belong to this machine'],
  EACCES: ['LOGSERVER_ERR_PERMISSION', 'permission denied (ports below 1024 need privileges)'],
  ENOTFOUND: ['LOGSERVER_ERR_ADDRESS_NOT_AVAILABLE', 'no such host'],
  EAI_AGAIN: ['LOGSERVER_ERR_ADDRESS_NOT_AVAILABLE', 'the host name could not be resolved'],
};

/** "127.0.0.1:9020" or "[::1]:9020". */
export function formatAddress(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}

/**
 * Stops accepting, but only once the kernel's backlog is empty: connections it completed before the stop (whose
 * clients may already have sent their records) are accepted and served, not reset. The listener closes after no
 * connection has come for `quietMs`, or after `maxMs`.
 */
export async function stopAccepting(server: Server, lastAccept: () => number, quietMs = 100, maxMs = 2000): Promise<void> {
  const started = Date.now();
  while (Date.now() - Math.max(started, lastAccept()) < quietMs && Date.now() - started < maxMs) await sleep(10);
  server.close();
}
