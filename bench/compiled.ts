/**
 * The code under test as the agent runs it: compiled by tsc into dist/
 * (`npm run bench` builds first), with its types taken from src/. Code that
 * tsx transforms on the fly runs 15–20% slower here than tsc's output, so a
 * benchmark of the agent's code must not time it through tsx.
 */
import { statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export async function compiled<T>(srcPath: string): Promise<T> {
  const root = new URL('../', import.meta.url);
  const src = new URL(srcPath, root);
  const built = new URL(srcPath.replace(/^src\//, 'dist/').replace(/\.ts$/, '.js'), root);
  let stale: string | undefined;
  try {
    if (statSync(built).mtimeMs < statSync(src).mtimeMs) stale = 'older than its source';
  } catch {
    stale = 'missing';
  }
  if (stale)
    throw new Error(
      `${fileURLToPath(built)} is ${stale}: run \`npm run build\` (npm run bench does)`,
    );
  return (await import(built.href)) as T;
}
