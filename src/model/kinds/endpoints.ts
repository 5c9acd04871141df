// Node, WorkloadEndpoint and HostEndpoint.

import { cidrContainsAddress, tryParseCidr, tryParseIP } from '../cidr.js';
import {
  checkASNumber,
  checkCidr,
  checkContainerID,
  checkInterfaceName,
  checkIP,
  checkMAC,
  checkName,
  checkPortName,
  checkProtocol,
  protocolHasPorts,
} from '../formats.js';
import { show, type FieldPath, type IssueSink } from '../issues.js';
import { HOSTENDPOINT, NODE, WORKLOADENDPOINT } from '../kinds.js';
import type {
  HostEndpointSpec,
  NodeSpec,
  Protocol,
  Resource,
  WorkloadEndpointSpec,
} from '../resource.js';
import { arr, int, intOrString, isPlainObject, obj, str, strCheck, strEnum } from '../schema.js';
import type { KindModule } from './module.js';

const nodeSpecSchema = obj({
  bgp: obj({
    asNumber: intOrString(checkASNumber),
    ipv4Address: strCheck(checkCidr({ family: 4 })),
    ipv6Address: strCheck(checkCidr({ family: 6 })),
    ipv4IPIPTunnelAddr: strCheck(checkIP(4)),
    routeReflectorClusterID: strCheck(checkIP(4)),
  }),
  ipv4VXLANTunnelAddr: strCheck(checkIP(4)),
  vxlanTunnelMACAddr: strCheck(checkMAC),
  ipv6VXLANTunnelAddr: strCheck(checkIP(6)),
  vxlanTunnelMACAddrV6: strCheck(checkMAC),
  orchRefs: arr(obj({ nodeName: str(), orchestrator: str() }, ['orchestrator'])),
  wireguard: obj({
    interfaceIPv4Address: strCheck(checkIP(4)),
    interfaceIPv6Address: strCheck(checkIP(6)),
  }),
  // Tortie records each address with its subnet's prefix length.
  addresses: arr(
    obj(
      {
        address: strCheck(checkCidr({ requirePrefix: true })),
        type: strEnum(['CalicoNodeIP', 'InternalIP', 'ExternalIP']),
      },
      ['address'],
    ),
  ),
  interfaces: arr(
    obj({ name: strCheck(checkInterfaceName(false)), addresses: arr(strCheck(checkCidr())) }),
  ),
});

const nodeStatusSchema = obj({
  wireguardPublicKey: str(),
  wireguardPublicKeyV6: str(),
  podCIDRs: arr(strCheck(checkCidr())),
});

export const nodeModule: KindModule<NodeSpec> = {
  info: NODE,
  spec: nodeSpecSchema,
  status: nodeStatusSchema,
  checkSemantics: (node, sink) => {
    const bgp = node.spec?.bgp;
    if (isPlainObject(bgp) && Object.keys(bgp).length === 0) {
      sink.report(
        ['spec', 'bgp'],
        'must not be empty: set ipv4Address or ipv6Address, or leave bgp out',
      );
    }
  },
};

// ---------------------------------------------------------------------------

const workloadEndpointSpecSchema = obj(
  {
    orchestrator: strCheck(checkName),
    workload: strCheck(checkName),
    node: strCheck(checkName),
    containerID: strCheck(checkContainerID),
    pod: strCheck(checkName),
    endpoint: strCheck(checkName),
    serviceAccountName: strCheck(checkName),
    ipNetworks: arr(strCheck(checkCidr({ singleAddress: true }))),
    ipNATs: arr(
      obj({ internalIP: strCheck(checkIP()), externalIP: strCheck(checkIP()), source: str() }, [
        'internalIP',
        'externalIP',
      ]),
    ),
    ipv4Gateway: strCheck(checkIP(4)),
    ipv6Gateway: strCheck(checkIP(6)),
    profiles: arr(strCheck(checkName)),
    interfaceName: strCheck(checkInterfaceName(true)),
    mac: strCheck(checkMAC),
    ports: arr(
      obj(
        {
          name: strCheck(checkPortName),
          protocol: intOrString(checkProtocol),
          port: int(1, 65535),
          hostPort: int(0, 65535),
          hostIP: strCheck(checkIP()),
        },
        ['protocol', 'port'],
      ),
    ),
    allowSpoofedSourcePrefixes: arr(strCheck(checkCidr())),
  },
  ['interfaceName'],
);

function checkEndpointPortProtocol(protocol: Protocol, path: FieldPath, sink: IssueSink): void {
  if (!protocolHasPorts(protocol)) {
    sink.report(path, `${show(protocol)} has no ports: use TCP, UDP, SCTP or UDPLite`);
  }
}

function checkWorkloadEndpoint(endpoint: Resource<WorkloadEndpointSpec>, sink: IssueSink): void {
  const spec = endpoint.spec!;
  const networks = (spec.ipNetworks ?? []).flatMap((n) => tryParseCidr(n) ?? []);
  spec.ipNATs?.forEach((nat, i) => {
    const internal = tryParseIP(nat.internalIP);
    const external = tryParseIP(nat.externalIP);
    if (internal && !networks.some((network) => cidrContainsAddress(network, internal))) {
      sink.report(
        ['spec', 'ipNATs', i, 'internalIP'],
        `${show(nat.internalIP)} is not one of the endpoint's ipNetworks`,
      );
    }
    if (internal && external && internal.family !== external.family) {
      sink.report(['spec', 'ipNATs', i, 'externalIP'], 'must be the same IP version as internalIP');
    }
  });
  spec.ports?.forEach((port, i) => {
    checkEndpointPortProtocol(port.protocol, ['spec', 'ports', i, 'protocol'], sink);
    if (!port.name && !port.hostPort) {
      sink.report(['spec', 'ports', i, 'name'], 'is required unless hostPort is set');
    }
  });
}

export const workloadEndpointModule: KindModule<WorkloadEndpointSpec> = {
  info: WORKLOADENDPOINT,
  spec: workloadEndpointSpecSchema,
  checkSemantics: checkWorkloadEndpoint,
};

// ---------------------------------------------------------------------------

const hostEndpointSpecSchema = obj(
  {
    node: strCheck(checkName),
    interfaceName: strCheck(checkInterfaceName(true)),
    expectedIPs: arr(strCheck(checkIP()), { unique: true }),
    profiles: arr(strCheck(checkName), { unique: true }),
    ports: arr(
      obj(
        {
          name: strCheck(checkPortName),
          protocol: intOrString(checkProtocol),
          port: int(1, 65535),
        },
        ['name', 'protocol', 'port'],
      ),
    ),
  },
  ['node'],
);

export const hostEndpointModule: KindModule<HostEndpointSpec> = {
  info: HOSTENDPOINT,
  spec: hostEndpointSpecSchema,
  checkSemantics: (endpoint, sink) => {
    const spec = endpoint.spec!;
    if (!spec.interfaceName && !spec.expectedIPs?.length) {
      sink.report(['spec'], 'needs interfaceName or expectedIPs (or both)');
    }
    spec.ports?.forEach((port, i) =>
      checkEndpointPortProtocol(port.protocol, ['spec', 'ports', i, 'protocol'], sink),
    );
  },
};
