import type { AddressInfo, Server } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { ServerError } from './options';

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
  const why: Record<string, string> = {
    EADDRINUSE: 'the address is already in use (is another server running?)',
    EADDRNOTAVAIL: 'the address does not belong to this machine',
    EACCES: 'permission denied (ports below 1024 need privileges)',
    ENOTFOUND: 'no such host',
    EAI_AGAIN: 'the host name could not be resolved',
  };
  return new ServerError(`cannot listen on ${where}: ${why[err.code ?? ''] ?? err.message}`);
}

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
