/**
 * --client-field without TLS: every input (TCP, UDP, HTTP) adds who sent each record, from real Python handlers,
 * in both modes; a record's own field of that name does not get through (a client cannot say who it is); and the
 * byte-level edit itself on lines of every shape (src/format/client-field.ts).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ClientField, dropMembers } from '../src/format/client-field';
import { LineBuffer } from '../src/format/line-buffer';
import { MODES, PYTHON_DIR, assertBuilt, python, send, startCli, tempDir, waitForLines } from './helpers';
import { waitForText } from './tls-helpers';

assertBuilt();

const OTHER = join(PYTHON_DIR, 'other_handlers.py');

/** A record whose extra is named like the field: SocketHandler pickles it as the record's own "who". */
const SPOOF = `
import logging, logging.handlers, sys
h = logging.handlers.SocketHandler('127.0.0.1', int(sys.argv[1]))
log = logging.getLogger('spoof'); log.propagate = False; log.addHandler(h)
log.warning('I am someone else', extra={'who': {'cn': 'admin'}, 'after': 1})
h.close()
`;

for (const mode of MODES) {
  test(`--client-field on TCP, UDP and HTTP without TLS (${mode.name}): address, port, input, tls false; a record's own field of that name is dropped`, async (t) => {
    const dir = await tempDir(t);
    const target = join(dir, 'logs.jsonl');
    const server = await startCli(t, { target, multithreaded: mode.multithreaded, args: ['--client-field', 'who', '--http-port', '0'] });
    const also = await waitForText(
      server.stderr,
      /^log-server: also listening on udp .*http:\/\/127\.0\.0\.1:(\d+)\/log$/m,
      'UDP and HTTP',
    );
    await send(['plain', '127.0.0.1', String(server.port), '3', 'tcp']);
    await waitForLines(target, 3);
    await python([OTHER, 'udp-burst', '127.0.0.1', String(server.port), '2', '0', '0']);
    await waitForLines(target, 5);
    await python([OTHER, 'http', `127.0.0.1:${also[1]}`, '/log', 'POST', '2', '-']);
    await waitForLines(target, 7);
    await python(['-c', SPOOF, String(server.port)]);
    const lines = (await waitForLines(target, 8)).map((l) => JSON.parse(l) as Record<string, unknown>);
    const who = lines.map((l) => l.who as Record<string, unknown>);
    assert.deepEqual(
      who.map((w) => [w.input, w.address, w.tls, typeof w.port]),
      [
        ...Array(3).fill(['tcp', '127.0.0.1', false, 'number']),
        ...Array(2).fill(['udp', '127.0.0.1', false, 'number']),
        ...Array(2).fill(['http', '127.0.0.1', false, 'number']),
        ['tcp', '127.0.0.1', false, 'number'],
      ],
    );
    for (const l of lines) assert.equal(Object.keys(l).at(-1), 'who');
    const spoof = lines[7];
    assert.equal(spoof.message, 'I am someone else');
    assert.equal(spoof.after, 1, 'the fields around it stay');
    assert.equal((spoof.who as Record<string, unknown>).cn, undefined, "the record's own field is gone");
    assert.equal(
      lines.every((l) => !('cn' in (l.who as object))),
      true,
      'no certificate, no cn',
    );
    const exit = await server.stop();
    assert.equal(exit.code, 0, exit.stderr);
  });
}

describe('the field added to a finished line', () => {
  const field = new ClientField('who');
  const fragment = field.fragment({ address: '10.0.0.5', port: 51234, input: 'tcp', tls: true, cn: 'app-1', subject: 'O=Ex, CN=app-1' });
  const add = (line: string): string => {
    const out = new LineBuffer();
    out.utf8('previous line\n');
    const start = out.length;
    out.utf8(line);
    field.add(out, start, fragment);
    return out.take().toString('utf8').slice('previous line\n'.length);
  };
  const WHO = '"who":{"address":"10.0.0.5","port":51234,"input":"tcp","tls":true,"cn":"app-1","subject":"O=Ex, CN=app-1"}';

  test('it comes last, and the line stays JSON', () => {
    assert.equal(add('{"message":"m","a":1}\n'), `{"message":"m","a":1,${WHO}}\n`);
    assert.deepEqual(Object.keys(JSON.parse(add('{"message":"m","a":[1,{"b":2}]}\n')) as object), ['message', 'a', 'who']);
  });

  test('a top-level field of the name goes wherever it is; nested ones and look-alikes in strings stay', () => {
    assert.equal(add('{"message":"m","who":{"x":[1,"}"]},"z":2}\n'), `{"message":"m","z":2,${WHO}}\n`);
    assert.equal(add('{"message":"m","z":2,"who":"me"}\n'), `{"message":"m","z":2,${WHO}}\n`);
    assert.equal(add('{"who":1,"message":"m"}\n'), `{"message":"m",${WHO}}\n`);
    assert.equal(add('{"message":"m","who":1,"who":2}\n'), `{"message":"m",${WHO}}\n`);
    assert.equal(add('{"message":"m","x":{"who":1}}\n'), `{"message":"m","x":{"who":1},${WHO}}\n`);
    assert.equal(add('{"message":"\\"who\\":1","whom":2}\n'), `{"message":"\\"who\\":1","whom":2,${WHO}}\n`);
    assert.equal(add('{"message":"m","who\\"x":1}\n'), `{"message":"m","who\\"x":1,${WHO}}\n`);
  });

  test('no line (a refused record): nothing is added', () => {
    const out = new LineBuffer();
    field.add(out, 0, fragment);
    assert.equal(out.length, 0);
  });

  test('dropMembers on its own returns the new end', () => {
    const b = Buffer.from('{"message":"m","who":[1,2]}\n');
    const end = dropMembers(b, 0, b.length, Buffer.from('"who":'));
    assert.equal(b.subarray(0, end).toString(), '{"message":"m"}\n');
  });
});
