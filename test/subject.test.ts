/** Logger names → NATS subject tokens (reversible), the subject template, and the cheap name scan. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { loggerNameOf, nameToSubjectTokens, parseSubjectTemplate, subjectTokensToName } from '../src/config/subject';
import { subjectCovers } from '../src/nats/forwarder';

test('logger names map onto subject tokens, reversibly, with nothing NATS refuses', () => {
  const cases: [string, string][] = [
    ['app.db', 'app.db'],
    ['my app.*', 'my%20app.%2A'],
    ['a..b', 'a.%.b'],
    ['', '%'],
    ['.x.', '%.x.%'],
    ['>', '%3E'],
    ['$JS.API', '%24JS.API'],
    ['100%', '100%25'],
    ['tab\there\nnl', 'tab%09here%0Anl'],
    ['Ünïcode', '%C3%9Cn%C3%AFcode'],
    ['snake_case-name', 'snake_case-name'],
  ];
  for (const [name, tokens] of cases) {
    assert.equal(nameToSubjectTokens(name), tokens, name);
    assert.equal(subjectTokensToName(tokens), name, tokens);
    assert.doesNotMatch(tokens, /[\s*>$\x00-\x1f]|\.\.|^\.|\.$/);
  }
});

test('subject templates: {name} as the last token, the stream subject, bad templates refused', () => {
  const t = parseSubjectTemplate('logs.{name}');
  assert.equal(t.subjectFor('app.db'), 'logs.app.db');
  assert.equal(t.streamSubject, 'logs.>');
  assert.equal(parseSubjectTemplate('all').subjectFor('x'), 'all');
  for (const bad of ['logs.{name}.x', 'logs..{name}', 'logs.*', '$JS.{name}', 'a b.{name}', ''])
    assert.throws(() => parseSubjectTemplate(bad), /forward-subject/, bad);
});

test('the logger name is found by a scan of the finished line', () => {
  const line = (o: object) => Buffer.from(JSON.stringify(o) + '\n');
  assert.equal(
    loggerNameOf(
      line({ message: 'x,"name":"fake"', levelname: 'INFO', created: 1, created_human: 'h', name: 'real.one', extra: { name: 'nested' } }),
    ),
    'real.one',
  );
  assert.equal(loggerNameOf(line({ message: 'm', name: 'quote"and\\back \u00e9' })), 'quote"and\\back \u00e9');
  assert.equal(loggerNameOf(line({ message: 'm', name: null })), '');
  assert.equal(loggerNameOf(line({ message: 'm' })), '');
  // Within a range of a larger buffer (many lines in one write).
  const two = Buffer.concat([line({ message: 'a' }), line({ message: 'b', name: 'second' })]);
  const nl = two.indexOf(0x0a);
  assert.equal(loggerNameOf(two, 0, nl), '');
  assert.equal(loggerNameOf(two, nl + 1, two.length - 1), 'second');
});

test('an existing stream must listen on the subjects forwarded to', () => {
  assert.ok(subjectCovers('logs.>', 'logs.>'));
  assert.ok(subjectCovers('>', 'logs.>'));
  assert.ok(subjectCovers('logs.*', 'logs.x'));
  assert.ok(!subjectCovers('logs.*', 'logs.>'));
  assert.ok(!subjectCovers('other.>', 'logs.>'));
  assert.ok(!subjectCovers('logs.app.>', 'logs.>'));
});
