// The host's IPv4 address and its subnet's prefix length, as calico-node's
// IP autodetection finds it:
//
//   first-found            the first global address on an interface that is
//                          not a known virtual one (lo, cali*, vxlan.calico,
//                          docker*, veth*, …)
//   interface=REGEX        the first address on an interface matching REGEX
//   skip-interface=REGEX   first-found, skipping interfaces matching REGEX
//   can-reach=ADDR         the source address the kernel would use towards ADDR
//   cidr=CIDR[,CIDR]       the first address inside one of the CIDRs
//
// The prefix length is the interface's real one (Calico records /32 for
// can-reach; Tortie keeps what the interface says, so that CrossSubnet can
// tell which peers share its subnet).

import { cidrContainsAddress, parseIP, tryParseCidr } from '../model/cidr.js';
import type { KernelAddress } from '../dataplane/kernel.js';

export interface HostAddress {
  address: string;
  prefixLength: number;
  /** The interface holding it. */
  iface: string | undefined;
}

export type AutodetectMethod =
  | { kind: 'first-found' }
  | { kind: 'interface'; pattern: RegExp }
  | { kind: 'skip-interface'; pattern: RegExp }
  | { kind: 'can-reach'; destination: string }
  | { kind: 'cidr'; cidrs: string[] };

/** Interfaces first-found never picks, after calico-node's defaults. */
const SKIPPED =
  /^(lo|cali.*|vxlan\.calico|vxlan-v6\.calico|tunl\d*|wireguard\.cali|docker\d*|cbr\d*|virbr\d*|veth.*|cni\d*|kube-ipvs\d*|nodelocaldns|dummy\d*|tortie-.*)$/;

export function parseAutodetectMethod(text: string): AutodetectMethod {
  const eq = text.indexOf('=');
  const kind = eq < 0 ? text : text.slice(0, eq);
  const arg = eq < 0 ? '' : text.slice(eq + 1);
  const regex = (what: string) => {
    if (arg === '')
      throw new Error(`--ip-autodetection-method ${kind}= needs a regular expression`);
    try {
      return new RegExp(arg);
    } catch (err) {
      throw new Error(`--ip-autodetection-method ${what}: ${(err as Error).message}`);
    }
  };
  switch (kind) {
    case 'first-found':
      if (arg !== '') throw new Error('--ip-autodetection-method first-found takes no argument');
      return { kind: 'first-found' };
    case 'interface':
      return { kind: 'interface', pattern: regex(kind) };
    case 'skip-interface':
      return { kind: 'skip-interface', pattern: regex(kind) };
    case 'can-reach': {
      try {
        parseIP(arg);
      } catch {
        throw new Error(`--ip-autodetection-method can-reach=${arg}: not an IP address`);
      }
      return { kind: 'can-reach', destination: arg };
    }
    case 'cidr': {
      const cidrs = arg.split(',').filter((c) => c !== '');
      if (cidrs.length === 0 || cidrs.some((c) => !tryParseCidr(c))) {
        throw new Error(
          `--ip-autodetection-method cidr=${arg}: give one or more CIDRs, comma-separated`,
        );
      }
      return { kind: 'cidr', cidrs };
    }
    default:
      throw new Error(
        `unknown --ip-autodetection-method "${text}": use first-found, interface=REGEX, skip-interface=REGEX, can-reach=ADDR or cidr=CIDR`,
      );
  }
}

/** Parses --ip ADDR/LEN; a bare address is refused, since the prefix length matters here. */
export function parseHostAddress(text: string): HostAddress {
  const m = /^(\d{1,3}(?:\.\d{1,3}){3})\/(\d{1,2})$/.exec(text);
  const len = m ? Number(m[2]) : NaN;
  if (!m || len < 0 || len > 32)
    throw new Error(
      `--ip ${text}: give the host's IPv4 address with its prefix length, e.g. 172.31.1.11/24, or "auto"`,
    );
  try {
    parseIP(m[1]!);
  } catch {
    throw new Error(`--ip ${text}: not an IPv4 address`);
  }
  return { address: m[1]!, prefixLength: len, iface: undefined };
}

function usable(a: KernelAddress): boolean {
  return (
    a.family === 4 &&
    (a.scope === undefined || a.scope === 'global') &&
    !a.address.startsWith('127.')
  );
}

/**
 * Picks the host address from the interfaces' addresses (in kernel order).
 * `sourceFor` answers can-reach: the source address the kernel routes from.
 */
export function chooseHostAddress(
  addrs: KernelAddress[],
  method: AutodetectMethod,
  sourceFor?: string,
): HostAddress | undefined {
  const pick = (a: KernelAddress | undefined) =>
    a ? { address: a.address, prefixLength: a.prefixLength, iface: a.dev } : undefined;
  const candidates = addrs.filter(usable);
  switch (method.kind) {
    case 'first-found':
      return pick(candidates.find((a) => !SKIPPED.test(a.dev)));
    case 'interface':
      return pick(candidates.find((a) => method.pattern.test(a.dev)));
    case 'skip-interface':
      return pick(candidates.find((a) => !SKIPPED.test(a.dev) && !method.pattern.test(a.dev)));
    case 'can-reach':
      return pick(candidates.find((a) => a.address === sourceFor));
    case 'cidr': {
      const cidrs = method.cidrs.map((c) => tryParseCidr(c)!);
      return pick(
        candidates.find((a) => cidrs.some((c) => cidrContainsAddress(c, parseIP(a.address)))),
      );
    }
  }
}

export function describeMethod(method: AutodetectMethod): string {
  switch (method.kind) {
    case 'first-found':
      return 'first-found';
    case 'interface':
      return `interface=${method.pattern.source}`;
    case 'skip-interface':
      return `skip-interface=${method.pattern.source}`;
    case 'can-reach':
      return `can-reach=${method.destination}`;
    case 'cidr':
      return `cidr=${method.cidrs.join(',')}`;
  }
}
