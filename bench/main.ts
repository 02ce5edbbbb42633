/**
 * Benchmark runner: `npm run bench -- NAME [--json] [args]` (`npm run -s ...` for JSON alone on
 * stdout: without -s npm prints its banner lines first). Each benchmark lives in
 * bench/NAME.ts and default-exports a {@link Benchmark}. Speed is always reported as ratios
 * against a reference measured side by side in the same run.
 */
import { readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import type { Benchmark, BenchmarkResult } from './types.js';

const here = dirname(fileURLToPath(import.meta.url));

function available(): string[] {
  return readdirSync(here)
    .filter((f) => f.endsWith('.js') && !['main.js', 'types.js'].includes(f))
    .filter((f) => !f.startsWith('util'))
    .map((f) => f.slice(0, -3))
    .sort();
}

function printTable(result: BenchmarkResult): void {
  const rows = result.rows;
  if (rows.length === 0) return;
  const columns = Object.keys(rows[0] ?? {});
  const format = (v: unknown) =>
    typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : String(v);
  const widths = columns.map((c) => Math.max(c.length, ...rows.map((r) => format(r[c]).length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i] ?? 0)).join('  ');
  console.log(`# ${result.bench}`);
  console.log(line(columns));
  for (const row of rows) console.log(line(columns.map((c) => format(row[c]))));
}

async function main(argv: readonly string[]): Promise<number> {
  const json = argv.includes('--json');
  const rest = argv.filter((a) => a !== '--json');
  const name = rest[0];
  const names = available();
  if (name === undefined || !names.includes(name)) {
    console.error(`usage: npm run bench -- NAME [--json]\nbenchmarks: ${names.join(', ')}`);
    return name === undefined ? 0 : 2;
  }
  const module = (await import(pathToFileURL(`${here}/${name}.js`).href)) as { default: Benchmark };
  const result = await module.default.run(rest.slice(1));
  if (json) console.log(JSON.stringify(result));
  else printTable(result);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
