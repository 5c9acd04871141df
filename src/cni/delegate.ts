// Calling another CNI plugin (a foreign IPAM plugin such as host-local) the
// way a runtime would: found by type in CNI_PATH, same environment, the
// network configuration on stdin. Its CNI error is passed on unchanged.

import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { CniError, ERR_DELEGATE, ERR_INVALID_CONFIG } from './errors.js';
import { parseResult, type CniResult } from './result.js';

export function findPlugin(type: string, cniPath: string): string {
  if (type.includes('/'))
    throw new CniError(
      ERR_INVALID_CONFIG,
      'invalid network configuration',
      `ipam.type: "${type}" may not contain '/'`,
    );
  for (const dir of cniPath.split(':')) {
    if (!dir) continue;
    const p = join(dir, type);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      /* next */
    }
  }
  throw new CniError(
    ERR_INVALID_CONFIG,
    'invalid network configuration',
    `ipam.type: no plugin "${type}" in CNI_PATH ${cniPath}`,
  );
}

export async function execPlugin(
  type: string,
  command: string,
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
): Promise<string> {
  const file = findPlugin(type, env['CNI_PATH'] ?? '');
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) childEnv[k] = v;
  childEnv['CNI_COMMAND'] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(file, [], { env: childEnv, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e) =>
      reject(new CniError(ERR_DELEGATE, `cannot run IPAM plugin ${type}`, e.message)),
    );
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      if (code === 0) return resolve(stdout);
      try {
        const e = JSON.parse(stdout) as { code?: unknown; msg?: unknown; details?: unknown };
        if (typeof e.code === 'number') {
          return reject(
            new CniError(e.code, String(e.msg ?? `${type} failed`), String(e.details ?? '')),
          );
        }
      } catch {
        /* not CNI error JSON */
      }
      reject(
        new CniError(
          ERR_DELEGATE,
          `IPAM plugin ${type} failed (exit ${code})`,
          Buffer.concat(err).toString('utf8').trim(),
        ),
      );
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);
  });
}

export async function delegateAdd(
  type: string,
  env: Readonly<Record<string, string | undefined>>,
  stdin: string,
): Promise<CniResult> {
  const out = await execPlugin(type, 'ADD', env, stdin);
  try {
    return parseResult(JSON.parse(out), `result of IPAM plugin ${type}`);
  } catch (err) {
    if (err instanceof CniError) throw err;
    throw new CniError(
      ERR_DELEGATE,
      `IPAM plugin ${type} printed no result`,
      (err as Error).message,
    );
  }
}
