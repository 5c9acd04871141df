/**
 * Benchmark dispatcher: `npm run bench -- <name> [args...]` imports
 * bench/<name>.ts and runs its exported `main(args)`.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const benchDir = fileURLToPath(new URL('.', import.meta.url));
const available = readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts') && f !== 'run.ts' && !f.endsWith('.test.ts'))
  .map((f) => f.slice(0, -'.ts'.length))
  .sort();

const [name, ...args] = process.argv.slice(2);
if (!name || !available.includes(name)) {
  console.error(`${name ? `unknown benchmark "${name}"` : 'no benchmark named'}`);
  console.error(`usage: npm run bench -- <name> [args...]; available: ${available.join(', ')}`);
  process.exit(2);
}
const bench = (await import(`./${name}.js`)) as { main?: (args: string[]) => Promise<void> };
if (typeof bench.main !== 'function') {
  console.error(`bench/${name}.ts exports no main(args)`);
  process.exit(2);
}
await bench.main(args);
