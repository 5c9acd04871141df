// The fake CNI plugin as a test hands it to the lab. Started through tsx it
// costs most of a second of CPU per call, so it is bundled once per test run
// with esbuild (which tsx brings) into a plain .mjs file; packages stay
// external, imported by absolute path so the bundle runs from any directory,
// and dynamic imports stay lazy chunks.
// Without esbuild the `fake-cni` wrapper (tsx) is used.

import { builtinModules, createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CniPlugin } from '../cni-runtime.js';

const here = dirname(fileURLToPath(import.meta.url));
export const FAKE_CNI_WRAPPER = join(here, 'fake-cni');

export async function fakePlugin(outDir: string): Promise<CniPlugin> {
  const require = createRequire(import.meta.url);
  try {
    const esbuild = (await import('esbuild')) as typeof import('esbuild');
    await esbuild.build({
      entryPoints: [join(here, 'fake-cni.ts')],
      outdir: outDir,
      outExtension: { '.js': '.mjs' },
      // Dynamic imports stay lazy chunks, so the etcd client loads only for etcd URLs.
      splitting: true,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
      plugins: [
        {
          name: 'packages-by-absolute-path',
          setup(build) {
            build.onResolve({ filter: /^[^./]/ }, (args) => {
              const bare = args.path.replace(/^node:/, '');
              if (args.path.startsWith('node:') || builtinModules.includes(bare)) {
                return { path: args.path, external: true };
              }
              return { path: require.resolve(args.path), external: true };
            });
          },
        },
      ],
    });
    return { command: [process.execPath, join(outDir, 'fake-cni.mjs')], path: [outDir] };
  } catch {
    return { command: [FAKE_CNI_WRAPPER], path: [here] };
  }
}
