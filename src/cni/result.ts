// CNI results: one internal shape (the 1.1.0 one), converted to whatever
// version the network configuration asked for, and parsed back from any
// version (prevResult in CHECK and DEL).
//
//   0.3.0 / 0.3.1 / 0.4.0   ips[].version ("4" | "6") is required
//   1.0.0                   ips[].version is gone
//   1.1.0                   interfaces[].mtu/socketPath/pciID,
//                           routes[].mtu/advmss/priority/table/scope

import { CniError, ERR_DECODE, ERR_INCOMPATIBLE_VERSION } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST_VERSION = '1.1.0';

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
  socketPath?: string;
  pciID?: string;
}

export interface CniIPConfig {
  /** CIDR notation: "198.18.0.5/32". */
  address: string;
  gateway?: string;
  /** Index into interfaces. */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
  mtu?: number;
  advmss?: number;
  priority?: number;
  table?: number;
  scope?: number;
}

export interface CniDNS {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  interfaces?: CniInterface[];
  ips?: CniIPConfig[];
  routes?: CniRoute[];
  dns?: CniDNS;
}

/** Compares dotted versions numerically: -1, 0, 1. Unparseable parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const pb = b.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function isSupportedVersion(v: string): boolean {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

function ipVersion(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

/** The result as the given version's JSON. */
export function formatResult(result: CniResult, cniVersion: string): Record<string, unknown> {
  if (!isSupportedVersion(cniVersion)) {
    throw new CniError(
      ERR_INCOMPATIBLE_VERSION,
      'incompatible CNI versions',
      `cannot write a result in version ${cniVersion}; supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  const v11 = compareVersions(cniVersion, '1.1.0') >= 0;
  const legacy = compareVersions(cniVersion, '1.0.0') < 0;
  const out: Record<string, unknown> = { cniVersion };
  if (result.interfaces && result.interfaces.length > 0) {
    out['interfaces'] = result.interfaces.map((i) => {
      const o: Record<string, unknown> = { name: i.name };
      if (i.mac !== undefined) o['mac'] = i.mac;
      if (v11 && i.mtu !== undefined) o['mtu'] = i.mtu;
      if (i.sandbox !== undefined) o['sandbox'] = i.sandbox;
      if (v11 && i.socketPath !== undefined) o['socketPath'] = i.socketPath;
      if (v11 && i.pciID !== undefined) o['pciID'] = i.pciID;
      return o;
    });
  }
  if (result.ips && result.ips.length > 0) {
    out['ips'] = result.ips.map((ip) => {
      const o: Record<string, unknown> = {};
      if (legacy) o['version'] = ipVersion(ip.address);
      if (ip.interface !== undefined) o['interface'] = ip.interface;
      o['address'] = ip.address;
      if (ip.gateway !== undefined) o['gateway'] = ip.gateway;
      return o;
    });
  }
  if (result.routes && result.routes.length > 0) {
    out['routes'] = result.routes.map((r) => {
      const o: Record<string, unknown> = { dst: r.dst };
      if (r.gw !== undefined) o['gw'] = r.gw;
      if (v11) {
        for (const k of ['mtu', 'advmss', 'priority', 'table', 'scope'] as const) {
          if (r[k] !== undefined) o[k] = r[k];
        }
      }
      return o;
    });
  }
  out['dns'] = { ...(result.dns ?? {}) };
  return out;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown, where: string): string {
  if (typeof v !== 'string') throw new CniError(ERR_DECODE, `${where}: expected a string`);
  return v;
}

function optStr(v: unknown, where: string): string | undefined {
  return v === undefined ? undefined : str(v, where);
}

function optNum(v: unknown, where: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new CniError(ERR_DECODE, `${where}: expected a number`);
  }
  return v;
}

/**
 * Parses a result of any supported version (prevResult, or a delegated IPAM
 * plugin's output) into the internal shape. `where` names the field in errors.
 */
export function parseResult(raw: unknown, where = 'prevResult'): CniResult {
  if (!isObject(raw)) throw new CniError(ERR_DECODE, `${where}: expected an object`);
  const out: CniResult = {};
  if (raw['interfaces'] !== undefined) {
    if (!Array.isArray(raw['interfaces'])) {
      throw new CniError(ERR_DECODE, `${where}.interfaces: expected a list`);
    }
    out.interfaces = raw['interfaces'].map((i: unknown, n) => {
      const w = `${where}.interfaces[${n}]`;
      if (!isObject(i)) throw new CniError(ERR_DECODE, `${w}: expected an object`);
      const o: CniInterface = { name: str(i['name'], `${w}.name`) };
      const mac = optStr(i['mac'], `${w}.mac`);
      if (mac !== undefined) o.mac = mac;
      const mtu = optNum(i['mtu'], `${w}.mtu`);
      if (mtu !== undefined) o.mtu = mtu;
      const sandbox = optStr(i['sandbox'], `${w}.sandbox`);
      if (sandbox !== undefined) o.sandbox = sandbox;
      return o;
    });
  }
  if (raw['ips'] !== undefined) {
    if (!Array.isArray(raw['ips'])) throw new CniError(ERR_DECODE, `${where}.ips: expected a list`);
    out.ips = raw['ips'].map((ip: unknown, n) => {
      const w = `${where}.ips[${n}]`;
      if (!isObject(ip)) throw new CniError(ERR_DECODE, `${w}: expected an object`);
      const o: CniIPConfig = { address: str(ip['address'], `${w}.address`) };
      if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(o.address)) {
        throw new CniError(
          ERR_DECODE,
          `${w}.address: "${o.address}" is not an address in CIDR notation`,
        );
      }
      const gw = optStr(ip['gateway'], `${w}.gateway`);
      if (gw !== undefined) o.gateway = gw;
      const idx = optNum(ip['interface'], `${w}.interface`);
      if (idx !== undefined) o.interface = idx;
      return o;
    });
  }
  if (raw['routes'] !== undefined) {
    if (!Array.isArray(raw['routes']))
      throw new CniError(ERR_DECODE, `${where}.routes: expected a list`);
    out.routes = raw['routes'].map((r: unknown, n) => {
      const w = `${where}.routes[${n}]`;
      if (!isObject(r)) throw new CniError(ERR_DECODE, `${w}: expected an object`);
      const o: CniRoute = { dst: str(r['dst'], `${w}.dst`) };
      const gw = optStr(r['gw'], `${w}.gw`);
      if (gw !== undefined) o.gw = gw;
      return o;
    });
  }
  if (isObject(raw['dns'])) out.dns = raw['dns'] as CniDNS;
  return out;
}

/** The plain addresses of a result, by family. */
export function resultAddresses(result: CniResult): { ipv4: string[]; ipv6: string[] } {
  const ipv4: string[] = [];
  const ipv6: string[] = [];
  for (const ip of result.ips ?? []) {
    const a = ip.address.slice(0, ip.address.indexOf('/'));
    (a.includes(':') ? ipv6 : ipv4).push(a);
  }
  return { ipv4, ipv6 };
}
