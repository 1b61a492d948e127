/**
 * What the size limits mean: how large real records with long tracebacks get (from Python's own SocketHandler),
 * and what a frame at `--max-frame` costs to write or refuse under `--max-entry`, for the shapes that cost most
 * per byte. Each case runs in a child process of its own: CPU per frame (median of --frames) and the RSS the
 * process grew by. In single-process mode the event loop is busy for that long: other connections wait.
 *
 *   node --import tsx scripts/bench-limits.ts [--frames 5] [--sizes 1,8] [--entries 4,16]   (sizes in MiB)
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const MiB = 1024 * 1024;
const SHAPES = ['ascii-str', 'escaped-str', 'int-list', 'many-keys', 'traceback'] as const;
type Shape = (typeof SHAPES)[number];

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};
const str = (s: Buffer | string) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([Buffer.from('X', 'latin1'), u32(b.length), b]);
};

/** A protocol-2 record {created, msg, levelname, extra|exc_text: <value>} of about `bytes` bytes. */
function record(shape: Shape, bytes: number): Buffer {
  const created = Buffer.alloc(9);
  created[0] = 0x47;
  created.writeDoubleBE(1_700_000_000.25, 1);
  let value: Buffer;
  let key = 'extra';
  switch (shape) {
    case 'ascii-str':
      value = str(Buffer.alloc(bytes, 'a'));
      break;
    case 'escaped-str':
      value = str(Buffer.alloc(bytes, 0x01));
      break;
    case 'int-list': {
      const items = Buffer.alloc(bytes - (bytes % 2));
      for (let i = 0; i < items.length; i += 2) items.write('K\x07', i, 'latin1');
      value = Buffer.concat([Buffer.from('](', 'latin1'), items, Buffer.from('e', 'latin1')]);
      break;
    }
    case 'many-keys': {
      const parts: Buffer[] = [Buffer.from('}(', 'latin1')];
      let n = 0;
      for (let i = 0; n < bytes; i++) {
        const k = str(`key${i}`);
        parts.push(k, Buffer.from('K\x01', 'latin1'));
        n += k.length + 2;
      }
      parts.push(Buffer.from('u', 'latin1'));
      value = Buffer.concat(parts);
      break;
    }
    case 'traceback': {
      key = 'exc_text';
      const frame = '  File "/srv/app/service/handlers.py", line 123, in handle_request\n    result = self.dispatch(request)\n';
      value = str('Traceback (most recent call last):\n' + frame.repeat(Math.ceil(bytes / frame.length)) + 'ValueError: bad');
      break;
    }
  }
  return Buffer.concat([
    Buffer.from('\x80\x02}(', 'latin1'),
    str('created'),
    created,
    str('msg'),
    str('big'),
    str('levelname'),
    str('INFO'),
    str(key),
    value,
    Buffer.from('u.', 'latin1'),
  ]);
}

/** Runs in the child: `frames` frames of `shape` through the line maker; prints one JSON result. */
function child(shape: Shape, bytes: number, maxEntry: number, frames: number): void {
  const { makeLineMaker } = require('../dist/decode/record') as typeof import('../src/decode/record');
  const { LineBuffer } = require('../dist/format/line-buffer') as typeof import('../src/format/line-buffer');
  const payload = record(shape, bytes);
  const make = makeLineMaker({ utc: true, maxEntry });
  const out = new LineBuffer();
  const rssBefore = process.memoryUsage().rss;
  let peak = rssBefore;
  const ms: number[] = [];
  let outcome = '';
  for (let i = 0; i < frames; i++) {
    const cpu = process.cpuUsage();
    try {
      make(payload, out);
      outcome = `line of ${(out.take().length / MiB).toFixed(1)} MiB`;
    } catch (err) {
      outcome = `refused ${(err as { code?: string }).code}`;
    }
    const used = process.cpuUsage(cpu);
    ms.push((used.user + used.system) / 1000);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  ms.sort((a, b) => a - b);
  process.stdout.write(
    JSON.stringify({ frame: payload.length, ms: ms[Math.floor(ms.length / 2)], grewMiB: (peak - rssBefore) / MiB, outcome }) + '\n',
  );
}

/** Sizes of real records from Python's SocketHandler: exceptions raised through N distinct frames. */
function tracebackSizes(): string {
  const py = `
import logging, logging.handlers, sys, os, tempfile
sys.setrecursionlimit(5000)
path = os.path.join(tempfile.mkdtemp(), 'service_layer.py')
src = "def f0(*a): raise ValueError('at the bottom of a long chain of calls')\\n"
for i in range(1, 1000):
    src += "def f%d(request_id, payload=None):\\n    result = f%d(request_id, payload)  # line %d, with its source shown\\n    return result\\n" % (i, i - 1, i)
open(path, 'w').write(src)
g = {}
exec(compile(src, path, 'exec'), g)
h = logging.handlers.SocketHandler('127.0.0.1', 9)
def size(n):
    try: g['f%d' % n](1)
    except Exception:
        return len(h.makePickle(logging.LogRecord('app', logging.ERROR, path, 1, 'failed', None, sys.exc_info())))
def chained(n, k):
    try:
        try: g['f%d' % n](1)
        except Exception as e:
            cause = e
            for j in range(k):
                try: raise RuntimeError('wrapped %d' % j) from cause
                except RuntimeError as w: cause = w
            raise cause
    except Exception:
        return len(h.makePickle(logging.LogRecord('app', logging.ERROR, path, 1, 'failed', None, sys.exc_info())))
def recursion():
    def again(): return again()
    try: again()
    except RecursionError:
        return len(h.makePickle(logging.LogRecord('app', logging.ERROR, path, 1, 'failed', None, sys.exc_info())))
print('| %s | a RecursionError (Python folds the repeated lines) | %d |' % (sys.version.split()[0], recursion()))
for n in (50, 200, 999):
    print('| %s | raised through %d distinct frames | %d |' % (sys.version.split()[0], n, size(n)))
print('| %s | through 999 frames, then wrapped 5 times (raise ... from) | %d |' % (sys.version.split()[0], chained(999, 5)))
`;
  const r = spawnSync('python3', ['-c', py], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout : `(python3 failed: ${r.stderr.trim()})\n`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      frames: { type: 'string', default: '5' },
      sizes: { type: 'string', default: '1,8' },
      entries: { type: 'string', default: '4,16' },
      child: { type: 'string' },
    },
  });
  if (values.child !== undefined) {
    const [shape, bytes, maxEntry] = values.child.split(':');
    return child(shape as Shape, Number(bytes), Number(maxEntry), Number(values.frames));
  }
  process.stdout.write('| Python | record | frame bytes |\n|---|---|---:|\n' + tracebackSizes() + '\n');
  process.stdout.write(
    '| frame | --max-entry | shape | CPU per frame (ms, median) | RSS grew (MiB) | outcome |\n|---:|---:|---|---:|---:|---|\n',
  );
  for (const size of values.sizes.split(',').map(Number)) {
    for (const entry of values.entries.split(',').map(Number)) {
      for (const shape of SHAPES) {
        const out = execFileSync(
          process.execPath,
          ['--import', 'tsx', __filename, '--child', `${shape}:${size * MiB - 200}:${entry * MiB}`, '--frames', values.frames],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        );
        const r = JSON.parse(out) as { frame: number; ms: number; grewMiB: number; outcome: string };
        process.stdout.write(
          `| ${(r.frame / MiB).toFixed(1)} MiB | ${entry} MiB | ${shape} | ${r.ms.toFixed(0)} | ${r.grewMiB.toFixed(0)} | ${r.outcome} |\n`,
        );
      }
    }
  }
}

main();
