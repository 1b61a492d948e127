/**
 * The command-line options of forwarding to NATS JetStream (see sink/nats.ts and README "Scaling out"); each is
 * also LOG_SERVER_<NAME>, e.g. LOG_SERVER_FORWARD=nats://127.0.0.1:4222.
 */
import { FORWARD_DEFAULTS, type ServerOptions } from './options';

export const FORWARD_OPTIONS = {
  forward: { type: 'string', describe: 'also (or, with --target "", only) publish every record to NATS JetStream: nats://host1:4222,host2:4222' },
  'forward-stream': { type: 'string', default: FORWARD_DEFAULTS.forwardStream, describe: 'JetStream stream (created if missing, used as it is if it exists)' },
  'forward-subject': { type: 'string', default: FORWARD_DEFAULTS.forwardSubject, describe: 'subject template; {name} is the logger name, its dots as subject tokens' },
  'forward-replicas': { type: 'number', default: FORWARD_DEFAULTS.forwardReplicas, describe: 'replicas of the stream when it is created' },
  'forward-max-age': { type: 'number', default: FORWARD_DEFAULTS.forwardMaxAge, describe: 'stream limit when created: seconds a record is kept (0: forever)' },
  'forward-max-bytes': { type: 'number', default: FORWARD_DEFAULTS.forwardMaxBytes, describe: 'stream limit when created: bytes kept, oldest dropped first (0: no limit)' },
  'forward-duplicate-window': { type: 'number', default: FORWARD_DEFAULTS.forwardDuplicateWindow, describe: "stream's duplicate window when created, in seconds" },
} as const;

interface Parsed {
  forward?: string;
  'forward-stream': string;
  'forward-subject': string;
  'forward-replicas': number;
  'forward-max-age': number;
  'forward-max-bytes': number;
  'forward-duplicate-window': number;
}

export function forwardOptionsOf(p: Parsed): Partial<ServerOptions> {
  if (p.forward === undefined) return {};
  return {
    forward: p.forward,
    forwardStream: p['forward-stream'],
    forwardSubject: p['forward-subject'],
    forwardReplicas: p['forward-replicas'],
    forwardMaxAge: p['forward-max-age'],
    forwardMaxBytes: p['forward-max-bytes'],
    forwardDuplicateWindow: p['forward-duplicate-window'],
  };
}
