// The network configuration of `type: tortie` and `type: tortie-ipam`, with
// Calico's field names, validated field by field: every error names the field.
//
//   {
//     "cniVersion": "1.1.0", "name": "net1", "type": "tortie",
//     "mtu": 0,                          0 or absent: derive (see plugin.ts)
//     "nodename": "host-a",              else nodename_file, else the hostname
//     "nodename_file": "/var/lib/tortie/nodename",
//     "datastore": "sqlite:/var/lib/tortie/tortie.db",   Tortie's datastore URL
//     "datastore_type": "etcdv3", "etcd_endpoints": "http://127.0.0.1:2379",
//     "etcd_ca_cert_file": "", "etcd_cert_file": "", "etcd_key_file": "",
//     "agent_socket": "/run/tortie/agent.sock",          "" = never use the agent
//     "log_level": "info", "log_file_path": "/var/log/tortie/cni.log",
//     "policy": {"type": "k8s"},
//     "ipam": {"type": "tortie-ipam", "assign_ipv4": "true", "assign_ipv6": "false",
//              "ipv4_pools": ["default-ipv4-ippool"], "ipv6_pools": []}
//   }
//
// Datastore precedence: `datastore`, then `etcd_endpoints` (datastore_type
// etcdv3), then env TORTIE_DATASTORE, then sqlite:/var/lib/tortie/tortie.db.

import { CniError, ERR_INVALID_CONFIG, ERR_INVALID_ENV } from './errors.js';

export const DEFAULT_DATASTORE = 'sqlite:/var/lib/tortie/tortie.db';
export const DEFAULT_AGENT_SOCKET = '/run/tortie/agent.sock';
export const DEFAULT_NODENAME_FILE = '/var/lib/tortie/nodename';
/** Written by the agent: the MTU workloads should get on this host. */
export const DEFAULT_MTU_FILE = '/var/lib/tortie/mtu';
export const TORTIE_IPAM_TYPE = 'tortie-ipam';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'none';

export interface IpamConf {
  type: string;
  assignIpv4: boolean;
  assignIpv6: boolean;
  ipv4Pools: string[];
  ipv6Pools: string[];
  /** The ipam object as given, for delegation. */
  raw: Record<string, unknown>;
}

export interface Attachment {
  containerID: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** 0: derive. */
  mtu: number;
  nodename?: string;
  nodenameFile: string;
  mtuFile: string;
  datastore: string;
  agentSocket: string;
  logLevel: LogLevel;
  logFilePath?: string;
  ipam: IpamConf;
  policyType?: string;
  /** runtimeConfig.labels and args.cni.labels, merged. */
  labels: Record<string, string>;
  dns?: Record<string, unknown>;
  prevResult?: unknown;
  /** GC: cni.dev/valid-attachments (or cni.dev/attachments). */
  validAttachments?: Attachment[];
  raw: Record<string, unknown>;
}

function bad(field: string, why: string): CniError {
  return new CniError(ERR_INVALID_CONFIG, `invalid network configuration`, `${field}: ${why}`);
}

function optString(o: Record<string, unknown>, key: string, field = key): string | undefined {
  const v = o[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw bad(field, `must be a string, got ${JSON.stringify(v)}`);
  return v;
}

/** Calico writes booleans as "true"/"false" strings; accept those and real booleans. */
function optBool(o: Record<string, unknown>, key: string, field: string, dflt: boolean): boolean {
  const v = o[key];
  if (v === undefined || v === null || v === '') return dflt;
  if (v === true || v === 'true') return true;
  if (v === false || v === 'false') return false;
  throw bad(field, `must be true or false ("true"/"false"), got ${JSON.stringify(v)}`);
}

function stringList(o: Record<string, unknown>, key: string, field: string): string[] {
  const v = o[key];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string' || x === '')) {
    throw bad(field, 'must be a list of pool names or CIDRs');
  }
  return v as string[];
}

const LABEL_KEY =
  /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$/;

export function checkLabel(key: string, value: string): string | undefined {
  if (!LABEL_KEY.test(key)) return `label key "${key}" is not a valid label key`;
  if (!LABEL_VALUE.test(value))
    return `label value "${value}" (key "${key}") is not a valid label value`;
  return undefined;
}

function labelsFrom(raw: Record<string, unknown>): Record<string, string> {
  const labels: Record<string, string> = {};
  const rc = raw['runtimeConfig'];
  if (rc !== undefined && rc !== null) {
    if (typeof rc !== 'object' || Array.isArray(rc))
      throw bad('runtimeConfig', 'must be an object');
    const l = (rc as Record<string, unknown>)['labels'];
    if (l !== undefined && l !== null) {
      if (typeof l !== 'object' || Array.isArray(l))
        throw bad('runtimeConfig.labels', 'must be an object of strings');
      for (const [k, v] of Object.entries(l as Record<string, unknown>)) {
        if (typeof v !== 'string') throw bad(`runtimeConfig.labels.${k}`, 'must be a string');
        labels[k] = v;
      }
    }
  }
  // CNI conventions: "args": {"cni": {"labels": [{"key": "app", "value": "web"}]}}
  const args = raw['args'];
  if (args && typeof args === 'object' && !Array.isArray(args)) {
    const cni = (args as Record<string, unknown>)['cni'];
    if (cni && typeof cni === 'object' && !Array.isArray(cni)) {
      const l = (cni as Record<string, unknown>)['labels'];
      if (l !== undefined) {
        if (!Array.isArray(l)) throw bad('args.cni.labels', 'must be a list of {"key", "value"}');
        l.forEach((e: unknown, i) => {
          const o = e as Record<string, unknown> | null;
          if (!o || typeof o['key'] !== 'string' || typeof o['value'] !== 'string') {
            throw bad(`args.cni.labels[${i}]`, 'must be {"key": string, "value": string}');
          }
          labels[o['key']] = o['value'];
        });
      }
    }
  }
  for (const [k, v] of Object.entries(labels)) {
    const why = checkLabel(k, v);
    if (why) throw bad('labels', why);
  }
  return labels;
}

function etcdUrl(raw: Record<string, unknown>): string | undefined {
  const endpoints = optString(raw, 'etcd_endpoints');
  if (!endpoints) return undefined;
  const ca = optString(raw, 'etcd_ca_cert_file');
  const cert = optString(raw, 'etcd_cert_file');
  const key = optString(raw, 'etcd_key_file');
  let secure = false;
  const hosts = endpoints.split(',').map((e) => {
    const m = /^(https?):\/\/([^/]+)\/?$/.exec(e.trim());
    if (!m) throw bad('etcd_endpoints', `"${e}" is not http(s)://HOST:PORT`);
    if (m[1] === 'https') secure = true;
    return m[2];
  });
  if (!secure) return `etcd://${hosts.join(',')}`;
  const q = new URLSearchParams();
  if (ca) q.set('ca', ca);
  if (cert) q.set('cert', cert);
  if (key) q.set('key', key);
  const qs = q.toString();
  return `etcds://${hosts.join(',')}${qs ? `?${qs}` : ''}`;
}

function attachments(raw: Record<string, unknown>): Attachment[] | undefined {
  const v = raw['cni.dev/valid-attachments'] ?? raw['cni.dev/attachments'];
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw bad('cni.dev/valid-attachments', 'must be a list');
  return v.map((e: unknown, i) => {
    const o = e as Record<string, unknown> | null;
    if (!o || typeof o['containerID'] !== 'string' || typeof o['ifname'] !== 'string') {
      throw bad(
        `cni.dev/valid-attachments[${i}]`,
        'must be {"containerID": string, "ifname": string}',
      );
    }
    return { containerID: o['containerID'], ifname: o['ifname'] };
  });
}

/** Validates a decoded configuration (skel has checked name and cniVersion). */
export function parseNetConf(
  raw: Record<string, unknown>,
  env: Readonly<Record<string, string | undefined>> = {},
): NetConf {
  const type = optString(raw, 'type');
  if (!type) throw bad('type', 'is required');

  let mtu = 0;
  if (raw['mtu'] !== undefined && raw['mtu'] !== null) {
    const m = raw['mtu'];
    if (typeof m !== 'number' || !Number.isInteger(m) || (m !== 0 && (m < 68 || m > 65535))) {
      throw bad(
        'mtu',
        `must be 0 (derive) or an integer from 68 to 65535, got ${JSON.stringify(m)}`,
      );
    }
    mtu = m;
  }

  const datastoreType = optString(raw, 'datastore_type');
  if (
    datastoreType !== undefined &&
    datastoreType !== '' &&
    datastoreType !== 'etcdv3' &&
    datastoreType !== 'tortie'
  ) {
    throw bad(
      'datastore_type',
      `"${datastoreType}" is not supported (use "etcdv3", or "datastore" with a Tortie datastore URL)`,
    );
  }
  const explicit = optString(raw, 'datastore');
  if (explicit !== undefined && !/^(sqlite:.+|etcds?:\/\/.+)$/.test(explicit)) {
    throw bad('datastore', `"${explicit}" is not sqlite:PATH or etcd://HOST:PORT[,...]`);
  }
  const datastore = explicit || etcdUrl(raw) || env['TORTIE_DATASTORE'] || DEFAULT_DATASTORE;

  const logLevelRaw = (optString(raw, 'log_level') ?? 'info').toLowerCase();
  const levels: Record<string, LogLevel> = {
    debug: 'debug',
    info: 'info',
    warn: 'warning',
    warning: 'warning',
    error: 'error',
    none: 'none',
    panic: 'error',
    fatal: 'error',
  };
  const logLevel = levels[logLevelRaw];
  if (!logLevel)
    throw bad('log_level', `"${logLevelRaw}" is not debug, info, warning, error or none`);

  const ipamRaw = raw['ipam'];
  if (ipamRaw === undefined || ipamRaw === null) throw bad('ipam', 'is required');
  if (typeof ipamRaw !== 'object' || Array.isArray(ipamRaw)) throw bad('ipam', 'must be an object');
  const io = ipamRaw as Record<string, unknown>;
  const ipamType = optString(io, 'type', 'ipam.type');
  if (!ipamType) throw bad('ipam.type', 'is required');
  const ipam: IpamConf = {
    type: ipamType,
    assignIpv4: optBool(io, 'assign_ipv4', 'ipam.assign_ipv4', true),
    assignIpv6: optBool(io, 'assign_ipv6', 'ipam.assign_ipv6', false),
    ipv4Pools: stringList(io, 'ipv4_pools', 'ipam.ipv4_pools'),
    ipv6Pools: stringList(io, 'ipv6_pools', 'ipam.ipv6_pools'),
    raw: io,
  };
  if (ipamType === TORTIE_IPAM_TYPE && !ipam.assignIpv4 && !ipam.assignIpv6) {
    throw bad('ipam', 'assign_ipv4 and assign_ipv6 are both false: nothing to assign');
  }
  for (const p of ipam.ipv4Pools)
    if (p.includes(':')) throw bad('ipam.ipv4_pools', `"${p}" is an IPv6 CIDR`);

  const policy = raw['policy'];
  let policyType: string | undefined;
  if (policy !== undefined && policy !== null) {
    if (typeof policy !== 'object' || Array.isArray(policy))
      throw bad('policy', 'must be an object');
    policyType = optString(policy as Record<string, unknown>, 'type', 'policy.type');
  }

  const agentSocket =
    optString(raw, 'agent_socket') ?? env['TORTIE_AGENT_SOCKET'] ?? DEFAULT_AGENT_SOCKET;
  const dns = raw['dns'];
  if (dns !== undefined && (typeof dns !== 'object' || dns === null || Array.isArray(dns))) {
    throw bad('dns', 'must be an object');
  }

  const conf: NetConf = {
    cniVersion: String(raw['cniVersion'] ?? ''),
    name: String(raw['name']),
    type,
    mtu,
    nodenameFile: optString(raw, 'nodename_file') ?? DEFAULT_NODENAME_FILE,
    mtuFile: optString(raw, 'mtu_file') ?? DEFAULT_MTU_FILE,
    datastore,
    agentSocket,
    logLevel,
    ipam,
    labels: labelsFrom(raw),
    raw,
  };
  const nodename = optString(raw, 'nodename');
  if (nodename) conf.nodename = nodename;
  const logFilePath = optString(raw, 'log_file_path');
  if (logFilePath) conf.logFilePath = logFilePath;
  if (policyType) conf.policyType = policyType;
  if (dns) conf.dns = dns as Record<string, unknown>;
  if (raw['prevResult'] !== undefined) conf.prevResult = raw['prevResult'];
  const va = attachments(raw);
  if (va) conf.validAttachments = va;
  return conf;
}

/**
 * CNI_ARGS: "K=V;K2=V2". Keys and values may not be empty; a pair without '='
 * is an error (code 4) naming the pair.
 */
export function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text.trim() === '') return out;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) {
      throw new CniError(ERR_INVALID_ENV, 'invalid CNI_ARGS', `"${pair}" is not KEY=VALUE`);
    }
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** TORTIE_LABELS=app=web,tier=front (',' because CNI_ARGS already uses ';'). */
export function parseLabelArg(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',')) {
    if (item.trim() === '') continue;
    const eq = item.indexOf('=');
    if (eq <= 0) {
      throw new CniError(
        ERR_INVALID_ENV,
        'invalid CNI_ARGS',
        `TORTIE_LABELS: "${item}" is not key=value`,
      );
    }
    const k = item.slice(0, eq).trim();
    const v = item.slice(eq + 1).trim();
    const why = checkLabel(k, v);
    if (why) throw new CniError(ERR_INVALID_ENV, 'invalid CNI_ARGS', `TORTIE_LABELS: ${why}`);
    out[k] = v;
  }
  return out;
}
