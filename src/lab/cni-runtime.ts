// The runtime side of the CNI protocol (CNI spec 1.0): what a container
// runtime does to call a plugin. The plugin is an executable; the operation
// and the container are named in the environment (CNI_COMMAND, CNI_CONTAINERID,
// CNI_NETNS, CNI_IFNAME, CNI_ARGS, CNI_PATH), the network configuration is its
// stdin, and it answers with a result or an error as JSON on stdout.
//
// The lab runs the plugin inside the host's network namespace, as a runtime
// on that host would: the plugin makes the veth there and moves one end into
// CNI_NETNS.

import { CommandError, inNetns, run } from './exec.js';

export const CNI_VERSION = '1.0.0';
export const LAB_NETWORK_NAME = 'tortie-lab';
const DEFAULT_TIMEOUT_MS = 60_000;

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION';

/** How to start the plugin: its argv (usually one executable) and CNI_PATH. */
export interface CniPlugin {
  command: string[];
  /** Directories where the plugin finds delegated plugins such as tortie-ipam. */
  path: string[];
}

export interface CniNetworkConfig {
  cniVersion: string;
  name: string;
  type: string;
  [field: string]: unknown;
}

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** Set for interfaces inside the container: the netns path. */
  sandbox?: string;
}

export interface CniIPConfig {
  address: string;
  gateway?: string;
  /** Index into `interfaces`. */
  interface?: number;
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIPConfig[];
  routes?: { dst: string; gw?: string }[];
  dns?: Record<string, unknown>;
}

export interface CniVersionResult {
  cniVersion: string;
  supportedVersions: string[];
}

/** A plugin's error result, or a plugin that broke the protocol (code 0 then). */
export class CniPluginError extends Error {
  constructor(
    readonly command: CniCommand,
    readonly code: number,
    readonly msg: string,
    readonly details: string | undefined,
    readonly stderr: string,
  ) {
    const codeText =
      code > 0 ? ` (code ${code}${CNI_ERROR_NAMES[code] ? `, ${CNI_ERROR_NAMES[code]}` : ''})` : '';
    super(`CNI ${command} failed${codeText}: ${msg}${details ? ` — ${details}` : ''}`);
    this.name = 'CniPluginError';
  }
}

/** The spec's well-known error codes. */
export const CNI_ERROR_NAMES: Record<number, string> = {
  1: 'incompatible CNI version',
  2: 'unsupported field in network configuration',
  3: 'container unknown or does not exist',
  4: 'invalid necessary environment variables',
  5: 'I/O failure',
  6: 'failed to decode content',
  7: 'invalid network config',
  11: 'try again later',
};

export interface CniRequest {
  command: CniCommand;
  containerId: string;
  /** Path of the container's network namespace, e.g. /var/run/netns/tl-demo-w-a. */
  netns: string;
  ifName: string;
  /** CNI_ARGS pairs; neither keys nor values may hold ';' or '='. */
  args?: Record<string, string>;
  config: CniNetworkConfig;
  /** Network namespace (by name) to run the plugin in: the host's. */
  runIn?: string;
  timeoutMs?: number;
}

export interface LabNetworkOptions {
  nodename: string;
  datastore: string;
  mtu: number;
  labels: Record<string, string>;
  /** The plugin appends its log here. */
  logFile?: string;
  /** The host agent's socket; "" tells the plugin there is none. */
  agentSocket?: string;
}

/**
 * The network configuration the lab hands the tortie plugin. Labels cannot
 * go in CNI_ARGS (';' and '=' separate its pairs), so they travel as the CNI
 * conventions say: "args": {"cni": {"labels": [{"key": …, "value": …}]}}.
 */
export function labNetworkConfig(opts: LabNetworkOptions): CniNetworkConfig {
  return {
    cniVersion: CNI_VERSION,
    name: LAB_NETWORK_NAME,
    type: 'tortie',
    nodename: opts.nodename,
    datastore: opts.datastore,
    mtu: opts.mtu,
    agent_socket: opts.agentSocket ?? '',
    log_level: 'info',
    ...(opts.logFile ? { log_file_path: opts.logFile } : {}),
    ipam: { type: 'tortie-ipam' },
    args: {
      cni: { labels: Object.entries(opts.labels).map(([key, value]) => ({ key, value })) },
    },
  };
}

/** The labels in a configuration made by labNetworkConfig (args.cni.labels). */
export function configLabels(config: Record<string, unknown>): Record<string, string> {
  const args = config['args'] as
    { cni?: { labels?: { key: string; value: string }[] } } | undefined;
  return Object.fromEntries((args?.cni?.labels ?? []).map((l) => [l.key, l.value]));
}

/** The Kubernetes CNI_ARGS a kubelet passes, for pod `name` in namespace `namespace`. */
export function k8sCniArgs(
  namespace: string,
  name: string,
  containerId: string,
): Record<string, string> {
  return {
    IgnoreUnknown: '1',
    K8S_POD_NAMESPACE: namespace,
    K8S_POD_NAME: name,
    K8S_POD_INFRA_CONTAINER_ID: containerId,
  };
}

export function formatCniArgs(args: Record<string, string>): string {
  return Object.entries(args)
    .map(([key, value]) => {
      if (/[;=]/.test(key) || /[;=]/.test(value)) {
        throw new Error(`CNI_ARGS cannot carry "${key}=${value}": ';' and '=' separate its pairs`);
      }
      return `${key}=${value}`;
    })
    .join(';');
}

/** The environment the plugin runs with: ours, less any CNI_* of ours, plus the request's. */
export function cniEnv(
  plugin: CniPlugin,
  req: CniRequest,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(base)) {
    if (!key.startsWith('CNI_')) env[key] = value;
  }
  env['CNI_COMMAND'] = req.command;
  env['CNI_PATH'] = plugin.path.join(':');
  if (req.command !== 'VERSION') {
    env['CNI_CONTAINERID'] = req.containerId;
    env['CNI_NETNS'] = req.netns;
    env['CNI_IFNAME'] = req.ifName;
    env['CNI_ARGS'] = formatCniArgs(req.args ?? {});
  }
  return env;
}

/**
 * Reads the plugin's answer. Exit 0: ADD gives a result, CHECK and DEL give
 * nothing, VERSION its versions. Non-zero: stdout is an error result.
 */
export function parseCniOutput(
  command: CniCommand,
  exitCode: number | null,
  stdout: string,
  stderr: string,
): CniResult | CniVersionResult | undefined {
  const text = stdout.trim();
  let parsed: unknown;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (exitCode !== 0) {
    if (isRecord(parsed) && typeof parsed['code'] === 'number') {
      const msg = typeof parsed['msg'] === 'string' ? parsed['msg'] : '(no message)';
      const details = typeof parsed['details'] === 'string' ? parsed['details'] : undefined;
      throw new CniPluginError(command, parsed['code'], msg, details, stderr);
    }
    const why = stderr.trim().split('\n').slice(-3).join('; ') || text || 'no output';
    throw new CniPluginError(
      command,
      0,
      `plugin exited with status ${exitCode} and no error result: ${why}`,
      undefined,
      stderr,
    );
  }
  if (command === 'DEL' || command === 'CHECK') return undefined;
  if (!isRecord(parsed)) {
    throw new CniPluginError(
      command,
      0,
      `plugin printed no JSON result: ${text.slice(0, 200) || '(empty)'}`,
      undefined,
      stderr,
    );
  }
  if (command === 'VERSION') {
    if (!Array.isArray(parsed['supportedVersions'])) {
      throw new CniPluginError(
        command,
        0,
        'VERSION result lacks supportedVersions',
        undefined,
        stderr,
      );
    }
    return parsed as unknown as CniVersionResult;
  }
  if (
    typeof parsed['cniVersion'] !== 'string' ||
    (parsed['ips'] !== undefined && !Array.isArray(parsed['ips']))
  ) {
    throw new CniPluginError(
      command,
      0,
      `not a CNI result: ${text.slice(0, 200)}`,
      undefined,
      stderr,
    );
  }
  return parsed as unknown as CniResult;
}

/** Calls the plugin once. ADD → its result; DEL, CHECK → undefined. */
export async function invokeCni(
  plugin: CniPlugin,
  req: CniRequest,
): Promise<CniResult | undefined> {
  const out = await exec(plugin, req);
  return out as CniResult | undefined;
}

export async function cniVersions(plugin: CniPlugin, runIn?: string): Promise<CniVersionResult> {
  const req: CniRequest = {
    command: 'VERSION',
    containerId: '',
    netns: '',
    ifName: '',
    config: { cniVersion: CNI_VERSION, name: LAB_NETWORK_NAME, type: 'tortie' },
    ...(runIn ? { runIn } : {}),
  };
  return (await exec(plugin, req)) as CniVersionResult;
}

async function exec(
  plugin: CniPlugin,
  req: CniRequest,
): Promise<CniResult | CniVersionResult | undefined> {
  const argv = req.runIn ? inNetns(req.runIn, plugin.command) : plugin.command;
  const input =
    req.command === 'VERSION'
      ? JSON.stringify({ cniVersion: req.config.cniVersion })
      : JSON.stringify(req.config);
  let result;
  try {
    result = await run(argv, {
      input,
      env: cniEnv(plugin, req),
      timeoutMs: req.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      check: false,
    });
  } catch (err) {
    throw new CniPluginError(req.command, 0, (err as Error).message, undefined, '');
  }
  if (result.timedOut) {
    throw new CniPluginError(
      req.command,
      0,
      new CommandError(argv, result).message,
      undefined,
      result.stderr,
    );
  }
  return parseCniOutput(req.command, result.code, result.stdout, result.stderr);
}

/** The addresses of a result, e.g. ["10.244.0.1/32"]. */
export function resultAddresses(result: CniResult | undefined): string[] {
  return (result?.ips ?? []).map((ip) => ip.address);
}

/** The host end of the veth: the result's interface without a sandbox. */
export function resultHostInterface(result: CniResult | undefined): string | undefined {
  return result?.interfaces?.find((i) => !i.sandbox)?.name;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
