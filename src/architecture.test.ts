import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, dirname } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

// The import table of docs/architecture.md: which layers each layer may use.
const ALLOWED: Record<string, string[]> = {
  model: [],
  datastore: ['model'],
  ipam: ['model', 'datastore'],
  calc: ['model'],
  dataplane: ['model', 'calc'],
  bgp: ['model'],
  cni: ['model', 'datastore', 'ipam', 'dataplane'],
  agent: ['model', 'datastore', 'ipam', 'calc', 'dataplane', 'bgp'],
  lab: ['model', 'datastore', 'ipam', 'calc', 'dataplane', 'cni', 'agent'],
  cli: ['model', 'datastore', 'ipam', 'calc', 'dataplane', 'bgp', 'cni', 'agent', 'lab'],
};

const srcDir = dirname(fileURLToPath(import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

function layerOf(file: string): string | undefined {
  const [first, ...rest] = relative(srcDir, file).split('/');
  return rest.length > 0 ? first : undefined;
}

describe('architecture', () => {
  it('every layer imports only the layers docs/architecture.md allows', () => {
    const violations: string[] = [];
    for (const file of sourceFiles(srcDir)) {
      const layer = layerOf(file);
      if (!layer) continue;
      const allowed = ALLOWED[layer];
      assert.ok(
        allowed,
        `${relative(srcDir, file)}: folder "${layer}" is not a layer in docs/architecture.md`,
      );
      const imports = readFileSync(file, 'utf8').matchAll(/from\s+'(\.[^']+)'/g);
      for (const [, spec] of imports) {
        const target = layerOf(join(dirname(file), spec!));
        if (target && target !== layer && !allowed.includes(target)) {
          violations.push(
            `${relative(srcDir, file)} imports ${spec} (${layer} may not use ${target})`,
          );
        }
      }
    }
    assert.deepEqual(violations, []);
  });
});
