// The CNI entry point, like the reference `pkg/skel`: reads the environment
// and the network configuration, checks them strictly, negotiates the
// version, dispatches to the plugin's verbs, and turns every outcome into
// what the spec wants on stdout and as the exit code. `runSkel` is pure (no
// process access), so the agent-side server runs exactly the same code as the
// standalone executable.
//
// Order of checks (each fails with the first problem found):
//   1. CNI_COMMAND and the variables its verb needs      -> 4
//   2. VERSION answers here, stdin ignored
//   3. stdin is a JSON object                              -> 6
//   4. "name" present and well formed                      -> 7
//   5. CNI_CONTAINERID and CNI_IFNAME well formed          -> 4
//   6. cniVersion supported (CHECK >= 0.4.0, GC/STATUS >= 1.1.0) -> 1
//   7. the verb; a CniError passes through, anything else -> 100

import {
  CniError,
  ERR_DECODE,
  ERR_INCOMPATIBLE_VERSION,
  ERR_INTERNAL,
  ERR_INVALID_CONFIG,
  ERR_INVALID_ENV,
} from './errors.js';
import {
  LATEST_VERSION,
  SUPPORTED_VERSIONS,
  compareVersions,
  formatResult,
  isSupportedVersion,
  type CniResult,
} from './result.js';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS' | 'VERSION';

export interface CmdArgs {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifName: string;
  /** CNI_ARGS, unparsed. */
  args: string;
  path: string;
  /** The raw configuration text. */
  stdin: string;
  /** The configuration, parsed (an object with a valid name). */
  config: Record<string, unknown>;
  cniVersion: string;
  /** The whole environment the verb was called with (for delegation). */
  env: Readonly<Record<string, string | undefined>>;
}

export interface PluginVerbs {
  add(args: CmdArgs): Promise<CniResult>;
  del(args: CmdArgs): Promise<void>;
  check(args: CmdArgs): Promise<void>;
  gc(args: CmdArgs): Promise<void>;
  status(args: CmdArgs): Promise<void>;
}

export interface SkelInput {
  env: Readonly<Record<string, string | undefined>>;
  stdin: string;
}

export interface SkelOutput {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const REQUIRED: Record<CniCommand, string[]> = {
  ADD: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  CHECK: ['CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_PATH'],
  DEL: ['CNI_CONTAINERID', 'CNI_IFNAME', 'CNI_PATH'],
  GC: ['CNI_PATH'],
  STATUS: ['CNI_PATH'],
  VERSION: [],
};

const MIN_VERSION: Partial<Record<CniCommand, string>> = {
  CHECK: '0.4.0',
  GC: '1.1.0',
  STATUS: '1.1.0',
};

const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const NETWORK_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export function validateInterfaceName(name: string): string | undefined {
  if (name === '') return 'interface name is empty';
  if (name.length > 15) return `interface name "${name}" is longer than 15 characters`;
  if (name === '.' || name === '..') return `interface name "${name}" is not allowed`;
  if (/[/:\s]/.test(name)) return `interface name "${name}" contains '/', ':' or whitespace`;
  return undefined;
}

/** The text a VERSION call prints. */
export function versionInfo(): Record<string, unknown> {
  return { cniVersion: LATEST_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** Decodes the network configuration; CniError 6 (not JSON / not an object) or 7 (name). */
export function decodeConfig(stdin: string): Record<string, unknown> {
  let conf: unknown;
  try {
    conf = JSON.parse(stdin);
  } catch (err) {
    throw new CniError(ERR_DECODE, 'error decoding network configuration', (err as Error).message);
  }
  if (typeof conf !== 'object' || conf === null || Array.isArray(conf)) {
    throw new CniError(
      ERR_DECODE,
      'error decoding network configuration',
      'expected a JSON object',
    );
  }
  const c = conf as Record<string, unknown>;
  if (c['name'] === undefined || c['name'] === '') {
    throw new CniError(ERR_INVALID_CONFIG, 'missing network name', 'field "name" is required');
  }
  if (typeof c['name'] !== 'string' || !NETWORK_NAME.test(c['name'])) {
    throw new CniError(
      ERR_INVALID_CONFIG,
      'invalid network name',
      `field "name": ${JSON.stringify(c['name'])} must start with a letter or digit, then letters, digits, '_', '.', '-'`,
    );
  }
  return c;
}

async function dispatch(
  input: SkelInput,
  verbs: PluginVerbs,
): Promise<{ cniVersion: string; out: string }> {
  const env = input.env;
  const rawCommand = env['CNI_COMMAND'] ?? '';
  const missing: string[] = [];
  if (rawCommand === '') missing.push('CNI_COMMAND');
  const command = rawCommand as CniCommand;
  if (rawCommand !== '' && !(rawCommand in REQUIRED)) {
    throw new CniError(ERR_INVALID_ENV, `unknown CNI_COMMAND: ${rawCommand}`);
  }
  for (const name of REQUIRED[command] ?? []) if (!env[name]) missing.push(name);
  if (missing.length > 0) {
    throw new CniError(ERR_INVALID_ENV, `required env variables [${missing.join(',')}] missing`);
  }

  if (command === 'VERSION')
    return { cniVersion: LATEST_VERSION, out: JSON.stringify(versionInfo()) };

  const config = decodeConfig(input.stdin);
  const cniVersion = typeof config['cniVersion'] === 'string' ? config['cniVersion'] : '0.1.0';
  const containerId = env['CNI_CONTAINERID'] ?? '';
  const ifName = env['CNI_IFNAME'] ?? '';
  if (command === 'ADD' || command === 'DEL' || command === 'CHECK') {
    if (!CONTAINER_ID.test(containerId)) {
      throw new CniError(
        ERR_INVALID_ENV,
        'invalid characters in containerID',
        `CNI_CONTAINERID "${containerId}" must start with a letter or digit, then letters, digits, '_', '.', '-'`,
      );
    }
    const bad = validateInterfaceName(ifName);
    if (bad) throw new CniError(ERR_INVALID_ENV, 'invalid CNI_IFNAME', bad);
  }
  if (!isSupportedVersion(cniVersion)) {
    throw new CniError(
      ERR_INCOMPATIBLE_VERSION,
      'incompatible CNI versions',
      `config is "${cniVersion}", plugin supports [${SUPPORTED_VERSIONS.join(' ')}]`,
    );
  }
  const min = MIN_VERSION[command];
  if (min && compareVersions(cniVersion, min) < 0) {
    throw new CniError(
      ERR_INCOMPATIBLE_VERSION,
      `config version does not allow ${command}`,
      `${command} needs cniVersion ${min} or later, config is ${cniVersion}`,
    );
  }

  const args: CmdArgs = {
    command,
    containerId,
    netns: env['CNI_NETNS'] ?? '',
    ifName,
    args: env['CNI_ARGS'] ?? '',
    path: env['CNI_PATH'] ?? '',
    stdin: input.stdin,
    config,
    cniVersion,
    env,
  };
  switch (command) {
    case 'ADD':
      return { cniVersion, out: JSON.stringify(formatResult(await verbs.add(args), cniVersion)) };
    case 'DEL':
      await verbs.del(args);
      return { cniVersion, out: '' };
    case 'CHECK':
      await verbs.check(args);
      return { cniVersion, out: '' };
    case 'GC':
      await verbs.gc(args);
      return { cniVersion, out: '' };
    case 'STATUS':
      await verbs.status(args);
      return { cniVersion, out: '' };
  }
}

/** The version to write an error in: the configuration's if we speak it, else the latest. */
function errorVersion(stdin: string): string {
  const m = /"cniVersion"\s*:\s*"([^"]*)"/.exec(stdin);
  return m && isSupportedVersion(m[1] ?? '') ? (m[1] as string) : LATEST_VERSION;
}

/**
 * Runs one CNI invocation. Never throws: every failure becomes the spec's
 * error JSON on stdout and exit code 1; details of unexpected errors go to
 * stderr (one line, no stack trace unless TORTIE_CNI_DEBUG is set).
 */
export async function runSkel(
  input: SkelInput,
  verbs: PluginVerbs,
  about = '',
): Promise<SkelOutput> {
  try {
    const { out } = await dispatch(input, verbs);
    return { exitCode: 0, stdout: out === '' ? '' : out + '\n', stderr: '' };
  } catch (err) {
    let stderr = '';
    let e: CniError;
    if (err instanceof CniError) {
      e = err;
      if (e.code === ERR_INVALID_ENV && !input.env['CNI_COMMAND'] && about) {
        stderr = `${about}\nCNI protocol versions supported: ${SUPPORTED_VERSIONS.join(', ')}\n`;
      }
    } else {
      const message = err instanceof Error ? err.message : String(err);
      e = new CniError(ERR_INTERNAL, 'internal error', message);
      stderr =
        input.env['TORTIE_CNI_DEBUG'] && err instanceof Error ? `${err.stack}\n` : `${message}\n`;
    }
    return {
      exitCode: 1,
      stdout: JSON.stringify(e.toJSON(errorVersion(input.stdin))) + '\n',
      stderr,
    };
  }
}

/** Reads all of stdin (empty when it is a terminal). */
export async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Writes a SkelOutput to the process and sets its exit code. */
export function emit(out: SkelOutput): void {
  if (out.stderr) process.stderr.write(out.stderr);
  if (out.stdout) process.stdout.write(out.stdout);
  process.exitCode = out.exitCode;
}
