/** Prints the README's option table (see scripts/lib/options-table.ts); with --write, puts it into README.md. */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BEGIN, END, optionsTable } from './lib/options-table';

const table = optionsTable();
if (process.argv.includes('--write')) {
  const path = join(__dirname, '..', 'README.md');
  const readme = readFileSync(path, 'utf8');
  const from = readme.indexOf(BEGIN);
  const to = readme.indexOf(END);
  if (from < 0 || to < 0) throw new Error(`README.md has no ${BEGIN} ... ${END} markers`);
  writeFileSync(path, readme.slice(0, from) + table + readme.slice(to + END.length));
} else {
  process.stdout.write(table + '\n');
}
