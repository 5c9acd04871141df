// Builds the optional native front (native/tortie-cni-fast.c) with the
// system C compiler. It is an accelerator, not a dependency: without it the
// Node executables (bin/tortie-cni, bin/tortie-ipam) do the same job, only
// with Node's start-up in every call. The agent's install step (and the
// benchmark) call buildFastClient; `npm run build` does not need a compiler.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PluginName } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The repository root, from src/cni (tsx) or dist/cni (built). */
const repo = resolve(here, '../..');

export function fastClientSource(): string {
  return join(repo, 'src/cni/native/tortie-cni-fast.c');
}

/**
 * Compiles the front for one plugin into `outPath`; FALLBACK is the Node
 * executable it execs when no agent answers. Returns an error text, or
 * undefined on success.
 */
export function buildFastClient(
  outPath: string,
  plugin: PluginName = 'tortie',
  cc = process.env['CC'] ?? 'cc',
): string | undefined {
  const src = fastClientSource();
  if (!existsSync(src)) return `${src} is missing`;
  const fallback = join(repo, plugin === 'tortie' ? 'bin/tortie-cni' : 'bin/tortie-ipam');
  const r = spawnSync(
    cc,
    [
      '-O2',
      '-Wall',
      '-Wextra',
      `-DFALLBACK="${fallback}"`,
      `-DPLUGIN="${plugin}"`,
      '-o',
      outPath,
      src,
    ],
    {
      encoding: 'utf8',
    },
  );
  if (r.error) return `${cc}: ${r.error.message}`;
  if (r.status !== 0) return `${cc} failed: ${r.stderr.trim()}`;
  return undefined;
}
