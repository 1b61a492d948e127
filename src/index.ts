/** log-server: receive Python logging SocketHandler records, write them as JSON lines. */
export { serveForever, startServer, type RunningServer } from './server';
export { DEFAULTS, ServerError, resolveOptions, type ServerOptions } from './options';
export type { ServerSummary } from './target';
export { streamReporter, silentReporter, type Reporter } from './report';
