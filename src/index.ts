/** log-server: receive Python logging SocketHandler records, write them as JSON lines. */
export { startServer, type RunningServer } from './server/start';
export { serveForever } from './server/serve';
export { DEFAULTS, resolveOptions, type ServerOptions } from './config/options';
export { ServerError, OptionError, ERROR_CODES, type ErrorCode } from './core/errors';
export {
  REFUSAL_CODES,
  CONNECTION_REFUSAL_CODES,
  TLS_HANDSHAKE_REFUSAL_CODES,
  type RefusalCode,
  type ConnectionRefusalCode,
  type TlsHandshakeRefusalCode,
} from './core/refusals';
export type { ServerSummary } from './server/summary';
export { streamReporter, silentReporter, type Reporter } from './core/report';
export type { ForwardStats, ForwardResult } from './nats/forwarder';
export { startConsumer, type ConsumeOptions, type ConsumeSummary, type RunningConsumer } from './nats/consume';
