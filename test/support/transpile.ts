/**
 * Compiles src/ to plain JavaScript in a temporary folder (types stripped, no type check), so
 * that tests can start real child processes (rank scripts, the `prophet` CLI) on Node 20, which
 * cannot run TypeScript itself. Returns the folder; its src/ mirrors the repository's.
 *
 * The folder is made inside build/ (ignored by git) when it exists, so that src/native.js, looking
 * upwards for package.json + binding.gyp, finds this checkout and loads its built addon.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import ts from 'typescript';

const root = join(dirname(new URL(import.meta.url).pathname), '..', '..');

function* tsFiles(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* tsFiles(path);
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) yield path;
  }
}

export function transpileSources(): string {
  const buildDir = join(root, 'build');
  const out = mkdtempSync(join(existsSync(buildDir) ? buildDir : tmpdir(), 'test-js-'));
  for (const file of tsFiles(join(root, 'src'))) {
    const { outputText } = ts.transpileModule(readFileSync(file, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: file,
    });
    const target = join(out, relative(root, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  writeFileSync(join(out, 'package.json'), JSON.stringify({ type: 'module' }));
  symlinkSync(realpathSync(join(root, 'node_modules')), join(out, 'node_modules'));
  return out;
}
