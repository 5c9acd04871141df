import { table } from '../lab/format.js';
import type { Resource } from '../model/resource.js';

/** One column of `get -o ps|wide`: a header and how to read the cell. */
interface Column {
  header: string;
  cell(resource: Resource): string;
}

type Spec = Record<string, any>;
const spec = (r: Resource): Spec => (r.spec ?? {}) as Spec;
const text = (value: unknown): string =>
  value === undefined || value === null || value === ''
    ? ''
    : Array.isArray(value)
      ? value.join(',')
      : String(value);
const column = (header: string, read: (s: Spec, r: Resource) => unknown): Column => ({
  header,
  cell: (r) => text(read(spec(r), r)),
});

const NAME = column('NAME', (_s, r) => r.metadata.name);
const ORDER = column('ORDER', (s) => s.order);
const SELECTOR = column('SELECTOR', (s) => s.selector);

/** calicoctl's columns per kind: [ps columns, extra wide columns]. */
const COLUMNS: Record<string, { ps: Column[]; wide: Column[] }> = {
  IPPool: {
    ps: [NAME, column('CIDR', (s) => s.cidr), column('SELECTOR', (s) => s.nodeSelector)],
    wide: [
      NAME,
      column('CIDR', (s) => s.cidr),
      column('NAT', (s) => Boolean(s.natOutgoing)),
      column('IPIPMODE', (s) => s.ipipMode),
      column('VXLANMODE', (s) => s.vxlanMode),
      column('DISABLED', (s) => Boolean(s.disabled)),
      column('DISABLEBGPEXPORT', (s) => Boolean(s.disableBGPExport)),
      column('SELECTOR', (s) => s.nodeSelector),
    ],
  },
  IPReservation: { ps: [NAME], wide: [NAME, column('CIDRS', (s) => s.reservedCIDRs)] },
  Node: {
    ps: [NAME],
    wide: [
      NAME,
      column('ASN', (s) => s.bgp?.asNumber ?? '(64512)'),
      column('IPV4', (s) => s.bgp?.ipv4Address),
      column('IPV6', (s) => s.bgp?.ipv6Address),
    ],
  },
  WorkloadEndpoint: {
    ps: [
      column('WORKLOAD', (s) => s.workload),
      column('NODE', (s) => s.node),
      column('NETWORKS', (s) => s.ipNetworks),
      column('INTERFACE', (s) => s.interfaceName),
    ],
    wide: [
      NAME,
      column('WORKLOAD', (s) => s.workload),
      column('NODE', (s) => s.node),
      column('NETWORKS', (s) => s.ipNetworks),
      column('INTERFACE', (s) => s.interfaceName),
      column('PROFILES', (s) => s.profiles),
      column('NATS', (s) => (s.ipNATs ?? []).map((n: Spec) => `${n.internalIP}->${n.externalIP}`)),
    ],
  },
  HostEndpoint: {
    ps: [NAME, column('NODE', (s) => s.node)],
    wide: [
      NAME,
      column('NODE', (s) => s.node),
      column('INTERFACE', (s) => s.interfaceName),
      column('IPS', (s) => s.expectedIPs),
      column('PROFILES', (s) => s.profiles),
    ],
  },
  NetworkPolicy: { ps: [NAME], wide: [NAME, ORDER, SELECTOR] },
  GlobalNetworkPolicy: { ps: [NAME], wide: [NAME, ORDER, SELECTOR] },
  Tier: { ps: [NAME, ORDER], wide: [NAME, ORDER] },
  BGPPeer: {
    ps: [
      NAME,
      column('PEERIP', (s) => s.peerIP),
      column('NODE', (s) => s.node ?? s.nodeSelector ?? '(global)'),
      column('ASN', (s) => s.asNumber),
    ],
    wide: [
      NAME,
      column('PEERIP', (s) => s.peerIP),
      column('NODE', (s) => s.node ?? s.nodeSelector ?? '(global)'),
      column('ASN', (s) => s.asNumber),
      column('PEERSELECTOR', (s) => s.peerSelector),
    ],
  },
  BGPConfiguration: {
    ps: [
      NAME,
      column('LOGSEVERITY', (s) => s.logSeverityScreen),
      column('MESHENABLED', (s) => s.nodeToNodeMeshEnabled),
      column('ASNUMBER', (s) => s.asNumber),
    ],
    wide: [
      NAME,
      column('LOGSEVERITY', (s) => s.logSeverityScreen),
      column('MESHENABLED', (s) => s.nodeToNodeMeshEnabled),
      column('ASNUMBER', (s) => s.asNumber),
    ],
  },
  Profile: {
    ps: [NAME],
    wide: [
      NAME,
      column('LABELS', (s) => Object.entries(s.labelsToApply ?? {}).map(([k, v]) => `${k}=${v}`)),
    ],
  },
  NetworkSet: { ps: [NAME], wide: [NAME, column('NETS', (s) => s.nets)] },
  GlobalNetworkSet: { ps: [NAME], wide: [NAME, column('NETS', (s) => s.nets)] },
};

const NAMESPACE = column('NAMESPACE', (_s, r) => r.metadata.namespace);

/** Renders `get -o ps|wide` as an aligned table, calicoctl style. */
export function renderTable(
  kind: string,
  resources: Resource[],
  wide: boolean,
  showNamespace: boolean,
): string {
  const set = COLUMNS[kind] ?? { ps: [NAME], wide: [NAME] };
  const columns = [...(showNamespace ? [NAMESPACE] : []), ...(wide ? set.wide : set.ps)];
  const rows = [
    columns.map((c) => c.header),
    ...resources.map((r) => columns.map((c) => c.cell(r))),
  ];
  return table(rows);
}
