/** log-server: receive Python logging SocketHandler records, write them as JSON lines. */
export { serveForever, startServer, type RunningServer } from './server';
export { DEFAULTS, ServerError, resolveOptions, type ServerOptions } from './options';
export type { ServerSummary } from './writer';
export { streamReporter, silentReporter, type Reporter } from './report';
export type { ForwardStats, ForwardResult } from './sink/nats';
export { startConsumer, type ConsumeOptions, type ConsumeSummary, type RunningConsumer } from './consume';
