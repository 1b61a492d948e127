/**
 * Draws the benchmark as an SVG bar chart: median records/s per system, every round as a dot.
 *
 *   node --import tsx scripts/chart.ts [bench/result.json] [docs/benchmarks.svg]
 *
 * The input is what `npm run bench -- --save FILE` writes.
 */
import { readFileSync, writeFileSync } from 'node:fs';

interface Run {
  ok: boolean;
  e2eRecordsPerSec: number | null;
}
interface System {
  name: string;
  runs: Run[];
}

const [input = 'bench/result.json', output = 'docs/benchmarks.svg'] = process.argv.slice(2);
const result = JSON.parse(readFileSync(input, 'utf8')) as { systems: System[]; machine?: unknown };
const rows = result.systems.map((s) => {
  const rates = s.runs.filter((r) => r.ok && r.e2eRecordsPerSec !== null).map((r) => r.e2eRecordsPerSec as number);
  const sorted = [...rates].sort((a, b) => a - b);
  return { name: s.name, rates, median: sorted[Math.floor(sorted.length / 2)] ?? 0 };
});
const max = Math.max(...rows.flatMap((r) => r.rates), 1);
const W = 760;
const labelW = 300;
const barW = W - labelW - 90;
const rowH = 34;
const H = 40 + rows.length * rowH + 30;
const x = (v: number) => labelW + (v / max) * barW;
const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;');
const python = rows.find((r) => r.name.startsWith('python'))?.median ?? 0;

const parts: string[] = [
  `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="13">`,
  `<rect width="${W}" height="${H}" fill="white"/>`,
  `<text x="10" y="22" font-size="15" font-weight="bold">records/s end to end (median of ${rows[0]?.rates.length ?? 0} rounds; dots: each round)</text>`,
];
rows.forEach((r, i) => {
  const y = 40 + i * rowH;
  const color = r.name.startsWith('log-server') ? '#2b6cb0' : r.name.startsWith('python') ? '#c05621' : '#718096';
  parts.push(`<text x="${labelW - 8}" y="${y + 17}" text-anchor="end">${esc(r.name.replace(' (= N)', ''))}</text>`);
  parts.push(
    `<rect x="${labelW}" y="${y + 4}" width="${Math.max(1, x(r.median) - labelW).toFixed(1)}" height="${rowH - 12}" fill="${color}"/>`,
  );
  for (const v of r.rates) parts.push(`<circle cx="${x(v).toFixed(1)}" cy="${y + rowH / 2 - 2}" r="2.5" fill="black" fill-opacity="0.6"/>`);
  const ratio = python > 0 ? ` (${(r.median / python).toFixed(1)}×)` : '';
  parts.push(
    `<text x="${(x(Math.max(...r.rates, r.median)) + 8).toFixed(1)}" y="${y + 17}">${Math.round(r.median / 1000)}k${ratio}</text>`,
  );
});
parts.push(
  `<text x="10" y="${H - 10}" font-size="11" fill="#555">× = ratio to the Python Logging Cookbook receiver. Source: npm run bench -- --save FILE</text>`,
  '</svg>',
);
writeFileSync(output, parts.join('\n') + '\n');
process.stdout.write(`wrote ${output}\n`);
