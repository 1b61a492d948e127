/**
 * The README's option table, made from the options table of the code (src/config/spec.ts):
 * `node --import tsx scripts/options-table.ts` prints it, `--write` puts it into README.md between its markers.
 * test/options-spec.test.ts fails when the README's copy differs.
 */
import { OPTION_SPECS, defaultText, envName, type OptionSpec } from '../../src/config/spec';

export const BEGIN = '<!-- options-table: made by scripts/options-table.ts from src/config/spec.ts -->';
export const END = '<!-- /options-table -->';

const cell = (s: string) => s.replace(/\|/g, '\\|');

export function optionsTable(): string {
  const rows = (OPTION_SPECS as readonly OptionSpec[]).map((s) => {
    // A boolean that can be on by default is also shown with its --no- form.
    const flag = s.kind === 'boolean' && s.default !== false ? `\`--${s.flag}\`, \`--no-${s.flag}\`` : `\`--${s.flag}\``;
    const def = s.defaultText !== undefined ? s.defaultText : s.kind === 'boolean' ? (s.default ? 'on' : 'off') : `\`${defaultText(s)}\``;
    return `| ${flag} | \`${envName(s.flag)}\` | ${def} | ${cell(s.describe)} |`;
  });
  return [BEGIN, '| option | environment | default | meaning |', '|---|---|---|---|', ...rows, END].join('\n');
}
