/**
 * The layers of src/: imports point one way, down this list, with no cycle (madge reads the imports, type-only
 * ones included). `npm run check:cycles` runs madge's own cycle check in CI; this test also holds the order of
 * the folders, which no cycle check sees.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import madge from 'madge';
import { ROOT } from './helpers';

/** Bottom to top. A module may import its own folder and the folders before it. */
const LAYERS = ['core', 'config', 'format', 'decode', 'net', 'sink', 'input', 'nats', 'output', 'ops', 'cluster', 'server', 'cli'];
/** The entry points above every layer. */
const TOP = new Set(['cli.ts', 'index.ts']);

function layerOf(file: string): number {
  if (TOP.has(file)) return LAYERS.length;
  const i = LAYERS.indexOf(file.split('/')[0]);
  assert.ok(i >= 0, `${file} is in no layer: put it in one of src/${LAYERS.join(', src/')}`);
  return i;
}

const graph = async () => (await madge(join(ROOT, 'src'), { fileExtensions: ['ts'], tsConfig: join(ROOT, 'tsconfig.json') })).obj();

test('every import of src/ points down the layers (or within one)', async () => {
  const upward: string[] = [];
  for (const [file, deps] of Object.entries(await graph())) {
    for (const dep of deps) if (layerOf(dep) > layerOf(file)) upward.push(`${file} -> ${dep}`);
  }
  assert.deepEqual(upward, []);
});

test('no import cycle in src/', async () => {
  const m = await madge(join(ROOT, 'src'), { fileExtensions: ['ts'], tsConfig: join(ROOT, 'tsconfig.json') });
  assert.deepEqual(m.circular(), []);
});

test('log-server tail loads nothing of the server: no prom-client, NATS, lock, writer or input', async () => {
  const g = await graph();
  const seen = new Set<string>();
  const visit = (f: string) => {
    if (seen.has(f)) return;
    seen.add(f);
    for (const d of g[f] ?? []) visit(d);
  };
  visit('cli/tail/cli.ts');
  const server = [...seen].filter((f) => !/^(core|config|format|cli\/tail)\//.test(f));
  assert.deepEqual(server, [], `tail reaches ${[...seen].join(', ')}`);
});
