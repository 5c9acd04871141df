// Checks on single values: names, labels, addresses, CIDRs, ports, protocols,
// AS numbers, durations, selectors. Each returns an error message, or
// undefined when the value is fine, so the schema can attach it to a field.
//
// The rules are Calico's (libcalico-go's v3 validator and the numorstring
// types), which in turn borrow Kubernetes' name and label rules.

import { formatCidr, tryParseCidr, tryParseIP, type Cidr, type IPAddress } from './cidr.js';
import { show } from './issues.js';
import { parseSelector, SelectorError, type Selector } from './selector.js';

export type Check<T> = (value: T) => string | undefined;

// ---------------------------------------------------------------------------
// Names

const DNS_LABEL = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const DNS_SUBDOMAIN = `${DNS_LABEL}(\\.${DNS_LABEL})*`;
export const DNS_LABEL_RE = new RegExp(`^${DNS_LABEL}$`);
export const DNS_SUBDOMAIN_RE = new RegExp(`^${DNS_SUBDOMAIN}$`);
export const DNS_LABEL_MAX = 63;
export const DNS_SUBDOMAIN_MAX = 253;

/** Most resource names (and node, profile and tier references): a DNS-1123 subdomain. */
export const checkName: Check<string> = (name) => {
  if (name.length > DNS_SUBDOMAIN_MAX) {
    return `${show(name)} is too long: at most ${DNS_SUBDOMAIN_MAX} characters`;
  }
  if (!DNS_SUBDOMAIN_RE.test(name)) {
    return `${show(name)} is not a valid name: use lower case letters, digits, '-' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
};

/** Namespaces and tiers: a DNS-1123 label (no dots). */
export const checkLabelName: Check<string> = (name) => {
  if (name.length > DNS_LABEL_MAX) {
    return `${show(name)} is too long: at most ${DNS_LABEL_MAX} characters`;
  }
  if (!DNS_LABEL_RE.test(name)) {
    return `${show(name)} is not a valid name: use lower case letters, digits and '-', starting and ending with a letter or digit`;
  }
  return undefined;
};

const QUALIFIED_NAME_PART = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;

/** A label or annotation key: `[prefix/]name`, as Kubernetes' IsQualifiedName. */
export const checkQualifiedName: Check<string> = (key) => {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined) {
    if (prefix === '' || prefix.length > DNS_SUBDOMAIN_MAX || !DNS_SUBDOMAIN_RE.test(prefix)) {
      return `${show(key)} is not a valid key: the prefix before '/' must be a DNS subdomain`;
    }
  }
  if (name === '' || name.length > 63 || !QUALIFIED_NAME_PART.test(name)) {
    return `${show(key)} is not a valid key: the name must be 1-63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
};

/** A label value: empty, or up to 63 characters like a qualified name's name part. */
export const checkLabelValue: Check<string> = (value) => {
  if (value === '') return undefined;
  if (value.length > 63 || !QUALIFIED_NAME_PART.test(value)) {
    return `${show(value)} is not a valid label value: at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit`;
  }
  return undefined;
};

/** Kubernetes' IsValidPortName (IANA service name): what named ports may be called. */
export const checkPortName: Check<string> = (name) => {
  const problem =
    name.length === 0 || name.length > 15
      ? 'must be 1-15 characters'
      : !/^[-a-z0-9]+$/.test(name)
        ? "may contain only lower case letters, digits and '-'"
        : !/[a-z]/.test(name)
          ? 'must contain at least one letter'
          : name.startsWith('-') || name.endsWith('-') || name.includes('--')
            ? "may not start or end with '-' or contain '--'"
            : undefined;
  return problem && `${show(name)} is not a valid port name: ${problem}`;
};

const CONTAINER_ID_RE = /^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$/;

export const checkContainerID: Check<string> = (id) =>
  CONTAINER_ID_RE.test(id) ? undefined : `${show(id)} is not a valid container ID`;

const INTERFACE_RE = /^[a-zA-Z0-9_.-]{1,15}$/;

/** A Linux interface name (at most 15 characters); `allowAll` also accepts "*". */
export function checkInterfaceName(allowAll: boolean): Check<string> {
  return (name) =>
    (allowAll && name === '*') || INTERFACE_RE.test(name)
      ? undefined
      : `${show(name)} is not a valid interface name: 1-15 letters, digits, '_', '.' or '-'${allowAll ? ', or "*"' : ''}`;
}

// ---------------------------------------------------------------------------
// Addresses

/** Any IP address; `family` restricts it to IPv4 or IPv6. */
export function checkIP(family?: 4 | 6): Check<string> {
  return (text) => {
    const ip = tryParseIP(text);
    if (!ip) return `${show(text)} is not a valid IP${family ? `v${family}` : ''} address`;
    if (family && ip.family !== family) return `${show(text)} is not an IPv${family} address`;
    return undefined;
  };
}

export interface CidrCheckOptions {
  family?: 4 | 6;
  /** Host bits must be zero ("10.0.0.0/8", not "10.0.0.1/8"); Calico's "net". */
  masked?: boolean;
  /** A bare address is not enough: "10.0.0.5/24", not "10.0.0.5". */
  requirePrefix?: boolean;
  /** Only a single address: /32 or /128 (or a bare address). */
  singleAddress?: boolean;
}

/** Parses "addr/len" or a bare address, reporting host bits set as an error if `masked`. */
export function checkCidr(options: CidrCheckOptions = {}): Check<string> {
  return (text) => {
    const cidr = tryParseCidr(text);
    const what = options.family ? `IPv${options.family} CIDR` : 'CIDR';
    if (!cidr) return `${show(text)} is not a valid ${what}`;
    if (options.family && cidr.family !== options.family) {
      return `${show(text)} is not an IPv${options.family} CIDR`;
    }
    const slash = text.indexOf('/');
    if (options.requirePrefix && slash === -1) {
      return `${show(text)} needs a prefix length, e.g. "${text}/${cidr.family === 4 ? 24 : 64}"`;
    }
    if (options.singleAddress && cidr.prefixLength !== (cidr.family === 4 ? 32 : 128)) {
      return `${show(text)} is not a single address: use a /${cidr.family === 4 ? 32 : 128}`;
    }
    if (options.masked && hasHostBits(text, cidr)) {
      return `${show(text)} has host bits set: the network is ${show(formatCidr(cidr))}`;
    }
    return undefined;
  };
}

/** True if the address part of `text` differs from the parsed network (host bits set). */
export function hasHostBits(text: string, cidr: Cidr): boolean {
  const slash = text.indexOf('/');
  const address = tryParseIP(slash === -1 ? text : text.slice(0, slash));
  return address !== undefined && address.value !== cidr.network;
}

/**
 * An IP with an optional port, as BGPPeer.peerIP: "192.0.2.1", "192.0.2.1:179",
 * "2001:db8::1", "[2001:db8::1]:179". Undefined if malformed.
 */
export function parseIPPort(text: string): { ip: IPAddress; port?: number } | undefined {
  const v4 = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(text);
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text);
  const match = v4 ?? v6;
  if (match) {
    const ip = tryParseIP(match[1]!);
    const port = Number(match[2]);
    if (!ip || (v6 && ip.family !== 6) || port < 1 || port > 65535) return undefined;
    return { ip, port };
  }
  const ip = tryParseIP(text);
  return ip ? { ip } : undefined;
}

export const checkIPPort: Check<string> = (text) =>
  parseIPPort(text)
    ? undefined
    : `${show(text)} is not a valid peer address: use an IP, "IPv4:port" or "[IPv6]:port"`;

const MAC_SEPARATED = /^[0-9a-fA-F]{2}([:-])[0-9a-fA-F]{2}(\1[0-9a-fA-F]{2})*$/;
const MAC_DOTTED = /^[0-9a-fA-F]{4}(\.[0-9a-fA-F]{4})*$/;

/** Go's net.ParseMAC: EUI-48, EUI-64 or 20-octet InfiniBand, ':' '-' or '.' separated. */
export const checkMAC: Check<string> = (text) => {
  let octets = 0;
  if (MAC_SEPARATED.test(text)) octets = (text.length + 1) / 3;
  else if (MAC_DOTTED.test(text)) octets = ((text.length + 1) / 5) * 2;
  return octets === 6 || octets === 8 || octets === 20
    ? undefined
    : `${show(text)} is not a valid MAC address`;
};

// ---------------------------------------------------------------------------
// Ports, protocols, AS numbers

export interface ParsedPort {
  min: number;
  max: number;
  name?: string;
}

const PORT_NAME_RE = /^[a-zA-Z0-9_.-]{1,128}$/;

/**
 * A Calico port: a number, "min:max", or a named port. Returns the range
 * (0:0 with a name for a named port) or an error message.
 */
export function parsePort(value: number | string): ParsedPort | string {
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 0 || value > 65535) {
      return `${show(value)} is not a valid port: must be 1-65535`;
    }
    if (value === 0) return '0 is not a valid port: must be 1-65535';
    return { min: value, max: value };
  }
  if (/^\d+$/.test(value)) return parsePort(Number(value));
  const range = /^(\d+):(\d+)$/.exec(value);
  if (range) {
    const min = Number(range[1]);
    const max = Number(range[2]);
    if (min < 1 || max < 1 || min > 65535 || max > 65535) {
      return `${show(value)} is not a valid port range: ports must be 1-65535`;
    }
    if (min > max) return `${show(value)} is not a valid port range: ${min} is greater than ${max}`;
    return { min, max };
  }
  if (!PORT_NAME_RE.test(value))
    return `${show(value)} is not a valid port, port range or port name`;
  return { min: 0, max: 0, name: value };
}

export const checkPort: Check<number | string> = (value) => {
  const parsed = parsePort(value);
  return typeof parsed === 'string' ? parsed : undefined;
};

export const PROTOCOL_NAMES = ['TCP', 'UDP', 'ICMP', 'ICMPv6', 'SCTP', 'UDPLite'] as const;
const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  TCP: 6,
  UDP: 17,
  ICMP: 1,
  ICMPv6: 58,
  SCTP: 132,
  UDPLite: 136,
};

/**
 * A protocol's number: names (case-sensitive, as Calico's v3 API), numbers,
 * or numeric strings ("6"). Undefined if it is not a valid protocol.
 */
export function protocolNumber(value: number | string): number | undefined {
  if (typeof value === 'string') {
    if (/^\d+$/.test(value)) return protocolNumber(Number(value));
    return PROTOCOL_NUMBERS[value];
  }
  return Number.isInteger(value) && value >= 1 && value <= 255 ? value : undefined;
}

export const checkProtocol: Check<number | string> = (value) =>
  protocolNumber(value) !== undefined
    ? undefined
    : `${show(value)} is not a valid protocol: use ${PROTOCOL_NAMES.join(', ')} or a number 1-255`;

/** TCP, UDP, SCTP and UDPLite have ports. */
export function protocolHasPorts(value: number | string | undefined): boolean {
  const n = value === undefined ? undefined : protocolNumber(value);
  return n === 6 || n === 17 || n === 132 || n === 136;
}

export function isICMP(value: number | string | undefined): 4 | 6 | undefined {
  const n = value === undefined ? undefined : protocolNumber(value);
  return n === 1 ? 4 : n === 58 ? 6 : undefined;
}

const UINT32_MAX = 4294967295;

/** An AS number: 0-4294967295, as a number or a decimal string, or "a.b" (asdot). */
export function parseASNumber(value: number | string): number | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= UINT32_MAX ? value : undefined;
  }
  if (/^\d+$/.test(value)) return parseASNumber(Number(value));
  const dotted = /^(\d+)\.(\d+)$/.exec(value);
  if (!dotted) return undefined;
  const high = Number(dotted[1]);
  const low = Number(dotted[2]);
  return high <= 65535 && low <= 65535 ? high * 65536 + low : undefined;
}

export const checkASNumber: Check<number | string> = (value) =>
  parseASNumber(value) !== undefined
    ? undefined
    : `${show(value)} is not a valid AS number: use 0-4294967295 or dotted "a.b" with each part 0-65535`;

// ---------------------------------------------------------------------------
// Durations

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go's time.ParseDuration ("1h2m3.5s", "250ms", "0"), in milliseconds; undefined if invalid. */
export function parseDuration(text: string): number | undefined {
  let rest = text;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    if (rest.startsWith('-')) sign = -1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') return undefined;
  let total = 0;
  const term = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest !== '') {
    const match = term.exec(rest);
    if (!match) return undefined;
    total += Number(match[1]) * DURATION_UNITS_MS[match[2]!]!;
    rest = rest.slice(match[0].length);
  }
  return sign * total;
}

export const checkDuration: Check<string> = (text) =>
  parseDuration(text) !== undefined
    ? undefined
    : `${show(text)} is not a valid duration: use e.g. "90s", "1m30s" or "250ms"`;

// ---------------------------------------------------------------------------
// Selectors and patterns

/** Parses a selector, or returns the message for a bad one, with its column. */
export function parseSelectorChecked(text: string): Selector | string {
  try {
    return parseSelector(text);
  } catch (err) {
    if (err instanceof SelectorError) {
      return `${show(text)} is not a valid selector: column ${err.column}: ${err.reason}`;
    }
    return `${show(text)} is not a valid selector: ${(err as Error).message}`;
  }
}

export const checkSelector: Check<string> = (text) => {
  const result = parseSelectorChecked(text);
  return typeof result === 'string' ? result : undefined;
};

/** A selector where global() has no meaning: only an EntityRule's namespaceSelector takes it. */
export const checkSelectorNoGlobal: Check<string> = (text) => {
  const result = parseSelectorChecked(text);
  if (typeof result === 'string') return result;
  return result.usesGlobal ? "global() can only be used in a rule's namespaceSelector" : undefined;
};

/** A rule's namespaceSelector: global() is allowed, but only on its own. */
export const checkNamespaceSelectorInRule: Check<string> = (text) => {
  const result = parseSelectorChecked(text);
  if (typeof result === 'string') return result;
  return result.usesGlobal && !result.isGlobal
    ? 'global() cannot be combined with other selectors'
    : undefined;
};

/** A regular expression (checked with JavaScript's engine, close to Go's RE2 for these uses). */
export const checkRegexp: Check<string> = (text) => {
  try {
    new RegExp(text);
    return undefined;
  } catch {
    return `${show(text)} is not a valid regular expression`;
  }
};

/** "key=value,key=value" lists (FelixConfiguration featureGates, featureDetectOverride). */
export const checkKeyValueList: Check<string> = (text) => {
  if (text.trim() === '') return undefined;
  for (const item of text.split(',')) {
    if (item !== '' && !/^\s*\w+=.*$/.test(item)) {
      return `${show(text)} is not a valid list of key=value pairs: ${show(item)}`;
    }
  }
  return undefined;
};

/** Matches iptables interface filters, which allow "+" as a wildcard ("eth+"). */
export const checkInterfaceFilter: Check<string> = (text) =>
  /^[a-zA-Z0-9:._+-]{1,15}$/.test(text)
    ? undefined
    : `${show(text)} is not a valid interface filter`;

/** A string value that must be one of a few words. */
export function checkEnum(values: readonly string[]): Check<string> {
  return (value) =>
    values.includes(value) ? undefined : `${show(value)} is not one of ${values.join(', ')}`;
}
