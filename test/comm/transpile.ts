/**
 * Makes TypeScript runnable by child `node` processes (Node 20 cannot run .ts): transpiles src/
 * and the given test scripts into build/test-ts/ (same relative layout, so '.js' imports resolve
 * and the addon is found from the package root above).
 */
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const outRoot = join(repoRoot, 'build', 'test-ts');

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? walk(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Transpiles src/**.ts plus `scripts` (repo-relative) and returns the output path of each script. */
export function transpileForChildren(scripts: readonly string[]): string[] {
  const inputs = [...walk(join(repoRoot, 'src')), ...scripts.map((s) => join(repoRoot, s))];
  for (const input of inputs) {
    const output = join(outRoot, relative(repoRoot, input)).replace(/\.ts$/, '.js');
    const { outputText } = ts.transpileModule(readFileSync(input, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      fileName: input,
    });
    mkdirSync(dirname(output), { recursive: true });
    writeFileSync(output, outputText);
  }
  return scripts.map((s) => join(outRoot, s).replace(/\.ts$/, '.js'));
}
