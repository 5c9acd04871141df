// Writing /proc/sys in the caller's own network namespace: no process spawn.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';

export class SysctlError extends Error {
  constructor(
    readonly path: string,
    cause: unknown,
  ) {
    super(`sysctl ${path}: ${(cause as Error).message ?? String(cause)}`);
    this.name = 'SysctlError';
  }
}

/** `net.ipv4.conf.cali123.proxy_arp` -> `/proc/sys/net/ipv4/conf/cali123/proxy_arp`. */
export function sysctlPath(name: string): string {
  // An interface name may not contain '/' but may contain '.', so only the
  // fixed head of the name is split on dots.
  const m = /^net\.(ipv4|ipv6)\.(conf|neigh)\.(.+)\.([a-z_0-9]+)$/.exec(name);
  if (m) return `/proc/sys/net/${m[1]}/${m[2]}/${m[3]}/${m[4]}`;
  return `/proc/sys/${name.replace(/\./g, '/')}`;
}

export function writeSysctl(name: string, value: string): void {
  const path = sysctlPath(name);
  try {
    writeFileSync(path, value);
  } catch (err) {
    throw new SysctlError(path, err);
  }
}

export function readSysctl(name: string): string | undefined {
  const path = sysctlPath(name);
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** The sysctls Calico sets on a workload's host-side veth, per family. */
export function workloadHostSysctls(
  iface: string,
  families: { ipv4: boolean; ipv6: boolean },
): [string, string][] {
  const out: [string, string][] = [];
  if (families.ipv4) {
    out.push([`net.ipv4.conf.${iface}.forwarding`, '1']);
    out.push([`net.ipv4.conf.${iface}.route_localnet`, '1']);
    out.push([`net.ipv4.conf.${iface}.proxy_arp`, '1']);
    out.push([`net.ipv4.neigh.${iface}.proxy_delay`, '0']);
  }
  if (families.ipv6) {
    out.push([`net.ipv6.conf.${iface}.accept_ra`, '0']);
    out.push([`net.ipv6.conf.${iface}.proxy_ndp`, '1']);
    out.push([`net.ipv6.conf.${iface}.forwarding`, '1']);
  }
  return out;
}

/** Applies workloadHostSysctls; IPv6 ones are skipped when the host has IPv6 off for the interface. */
export function setWorkloadHostSysctls(
  iface: string,
  families: { ipv4: boolean; ipv6: boolean },
): void {
  const v6Present = existsSync(`/proc/sys/net/ipv6/conf/${iface}`);
  for (const [name, value] of workloadHostSysctls(iface, {
    ipv4: families.ipv4,
    ipv6: families.ipv6,
  })) {
    if (name.startsWith('net.ipv6.') && !v6Present) {
      throw new SysctlError(
        sysctlPath(name),
        new Error('IPv6 is disabled on the host for this interface'),
      );
    }
    writeSysctl(name, value);
  }
}

/** Reads back workloadHostSysctls; returns the names whose value differs. */
export function checkWorkloadHostSysctls(
  iface: string,
  families: { ipv4: boolean; ipv6: boolean },
): string[] {
  const wrong: string[] = [];
  for (const [name, value] of workloadHostSysctls(iface, families)) {
    if (readSysctl(name) !== value)
      wrong.push(`${name} is ${readSysctl(name) ?? 'absent'}, want ${value}`);
  }
  return wrong;
}
