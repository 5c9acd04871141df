// BGPPeer and BGPConfiguration.

import { cidrContainsAddress, parseCidr, tryParseIP } from '../cidr.js';
import {
  checkASNumber,
  checkCidr,
  checkDuration,
  checkIP,
  checkIPPort,
  checkName,
  checkSelector,
  parseASNumber,
  parseIPPort,
} from '../formats.js';
import { show, type IssueSink } from '../issues.js';
import { BGPCONFIGURATION, BGPPEER } from '../kinds.js';
import type { BGPConfigurationSpec, BGPPeerSpec, Resource } from '../resource.js';
import { arr, bool, int, intOrString, obj, str, strCheck, strEnum } from '../schema.js';
import type { KindModule } from './module.js';

export const LOG_SEVERITIES = ['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'] as const;
export const DEFAULT_AS_NUMBER = 64512;
/** The BGPConfiguration holding the cluster-wide settings; others are `node.<name>`. */
export const DEFAULT_BGP_CONFIGURATION = 'default';

export const passwordSchema = obj({
  secretKeyRef: obj({ name: str(), key: str(), optional: bool }, ['key']),
});

const bgpPeerSpecSchema = obj({
  node: strCheck(checkName),
  nodeSelector: strCheck(checkSelector),
  peerIP: strCheck(checkIPPort),
  asNumber: intOrString(checkASNumber),
  localASNumber: intOrString(checkASNumber),
  peerSelector: strCheck(checkSelector),
  localWorkloadSelector: strCheck(checkSelector),
  keepOriginalNextHop: bool,
  nextHopMode: strEnum(['Auto', 'Self', 'Keep']),
  password: passwordSchema,
  sourceAddress: strEnum(['UseNodeIP', 'None']),
  maxRestartTime: strCheck(checkDuration),
  keepaliveTime: strCheck(checkDuration),
  numAllowedLocalASNumbers: int(0, 2_147_483_647),
  ttlSecurity: int(0, 255),
  filters: arr(strCheck(checkName)),
  reachableBy: strCheck(checkIP()),
});

function asNumberSet(value: number | string | undefined): boolean {
  return value !== undefined && parseASNumber(value) !== 0;
}

function checkPeer(peer: Resource<BGPPeerSpec>, sink: IssueSink): void {
  const spec = peer.spec ?? {};
  if (spec.node && spec.nodeSelector) {
    sink.report(['spec', 'node'], 'cannot be set together with nodeSelector: use one or the other');
  }
  if (spec.peerIP && spec.peerSelector) {
    sink.report(
      ['spec', 'peerIP'],
      'cannot be set together with peerSelector: use one or the other',
    );
  }
  if (asNumberSet(spec.asNumber) && spec.peerSelector) {
    sink.report(
      ['spec', 'asNumber'],
      "must be empty when peerSelector is set: each selected node's own AS number is used",
    );
  }
  if (spec.localWorkloadSelector) {
    if (!asNumberSet(spec.asNumber)) {
      sink.report(['spec', 'asNumber'], 'is required when localWorkloadSelector is set');
    }
    if (spec.peerIP)
      sink.report(['spec', 'peerIP'], 'must be empty when localWorkloadSelector is set');
    if (spec.peerSelector) {
      sink.report(['spec', 'peerSelector'], 'must be empty when localWorkloadSelector is set');
    }
  }
  if (spec.reachableBy) {
    const peerAddress = spec.peerIP ? parseIPPort(spec.peerIP) : undefined;
    const gateway = tryParseIP(spec.reachableBy);
    if (!spec.peerIP) sink.report(['spec', 'reachableBy'], 'needs peerIP to be set');
    else if (peerAddress && gateway && peerAddress.ip.family !== gateway.family) {
      sink.report(
        ['spec', 'reachableBy'],
        `is IPv${gateway.family} but peerIP is IPv${peerAddress.ip.family}`,
      );
    }
  }
  if (spec.keepOriginalNextHop && spec.nextHopMode !== undefined) {
    sink.report(
      ['spec', 'keepOriginalNextHop'],
      'is deprecated and cannot be true when nextHopMode is set: use nextHopMode: Keep',
    );
  }
}

export const bgpPeerModule: KindModule<BGPPeerSpec> = {
  info: BGPPEER,
  spec: bgpPeerSpecSchema,
  checkSemantics: checkPeer,
};

// ---------------------------------------------------------------------------

const cidrBlocks = arr(obj({ cidr: strCheck(checkCidr({ masked: true })) }));

const bgpConfigurationSpecSchema = obj({
  logSeverityScreen: strEnum(LOG_SEVERITIES),
  nodeToNodeMeshEnabled: bool,
  asNumber: intOrString(checkASNumber),
  serviceLoadBalancerIPs: cidrBlocks,
  serviceExternalIPs: cidrBlocks,
  serviceClusterIPs: cidrBlocks,
  communities: arr(obj({ name: strCheck(checkName), value: str() }, ['name', 'value'])),
  prefixAdvertisements: arr(
    obj({ cidr: strCheck(checkCidr({ masked: true })), communities: arr(str()) }, [
      'cidr',
      'communities',
    ]),
  ),
  listenPort: int(1, 65535),
  nodeMeshPassword: passwordSchema,
  nodeMeshMaxRestartTime: strCheck(checkDuration),
  bindMode: strEnum(['None', 'NodeIP']),
  ignoredInterfaces: arr(
    strCheck((name) =>
      name !== '*' && /^[a-zA-Z0-9_.*-]{1,15}$/.test(name)
        ? undefined
        : `${show(name)} is not a valid interface pattern: 1-15 letters, digits, '_', '.', '-' or '*' (and not just "*")`,
    ),
  ),
  localWorkloadPeeringIPV4: strCheck(checkIP(4)),
  localWorkloadPeeringIPV6: strCheck(checkIP(6)),
});

/** "aa:nn" with 16-bit parts, or "aa:nn:mm" with 32-bit parts; else a message. */
export function checkCommunityValue(value: string): string | undefined {
  const parts = value.split(':');
  if ((parts.length !== 2 && parts.length !== 3) || !parts.every((p) => /^\d+$/.test(p))) {
    return `${show(value)} is not a community: use "aa:nn" (standard) or "aa:nn:mm" (large)`;
  }
  const bits = parts.length === 2 ? 16 : 32;
  if (parts.some((p) => Number(p) >= 2 ** bits)) {
    return `${show(value)} is not a valid ${bits === 16 ? 'standard' : 'large'} community: each part must fit in ${bits} bits`;
  }
  return undefined;
}

const RESERVED_WORKLOAD_PEERING_IPS = ['169.254.0.1', '169.254.0.2'];
const IPV6_LINK_LOCAL = parseCidr('fe80::/10');

function checkBGPConfiguration(config: Resource<BGPConfigurationSpec>, sink: IssueSink): void {
  const spec = config.spec ?? {};
  const isDefault = config.metadata.name === DEFAULT_BGP_CONFIGURATION;
  if (!isDefault && spec.nodeToNodeMeshEnabled !== undefined) {
    sink.report(
      ['spec', 'nodeToNodeMeshEnabled'],
      `can only be set on the "${DEFAULT_BGP_CONFIGURATION}" BGPConfiguration`,
    );
  }
  const communityNames = new Set<string>();
  spec.communities?.forEach((community, i) => {
    communityNames.add(community.name);
    const problem = checkCommunityValue(community.value);
    if (problem) sink.report(['spec', 'communities', i, 'value'], problem);
  });
  if (spec.communities?.length && !spec.prefixAdvertisements?.length) {
    sink.report(['spec', 'communities'], 'are defined but no prefixAdvertisements use them');
  }
  spec.prefixAdvertisements?.forEach((advertisement, i) => {
    advertisement.communities.forEach((community, j) => {
      if (communityNames.has(community)) return;
      if (checkCommunityValue(community)) {
        sink.report(
          ['spec', 'prefixAdvertisements', i, 'communities', j],
          `${show(community)} is neither a community defined in spec.communities nor a community value`,
        );
      }
    });
  });
  if (spec.nodeToNodeMeshEnabled === false) {
    for (const field of ['nodeMeshPassword', 'nodeMeshMaxRestartTime'] as const) {
      if (spec[field] !== undefined) {
        sink.report(['spec', field], 'cannot be set when nodeToNodeMeshEnabled is false');
      }
    }
  }
  if (
    spec.localWorkloadPeeringIPV4 &&
    RESERVED_WORKLOAD_PEERING_IPS.includes(spec.localWorkloadPeeringIPV4)
  ) {
    sink.report(
      ['spec', 'localWorkloadPeeringIPV4'],
      `${show(spec.localWorkloadPeeringIPV4)} is reserved for internal use`,
    );
  }
  const v6 = spec.localWorkloadPeeringIPV6 ? tryParseIP(spec.localWorkloadPeeringIPV6) : undefined;
  if (v6 && cidrContainsAddress(IPV6_LINK_LOCAL, v6)) {
    sink.report(['spec', 'localWorkloadPeeringIPV6'], 'cannot be a link-local address');
  }
}

export const bgpConfigurationModule: KindModule<BGPConfigurationSpec> = {
  info: BGPCONFIGURATION,
  spec: bgpConfigurationSpecSchema,
  checkSemantics: checkBGPConfiguration,
  defaults: (config) => {
    if (config.metadata.name !== DEFAULT_BGP_CONFIGURATION) return config;
    const spec = config.spec ?? {};
    return {
      ...config,
      spec: {
        ...spec,
        asNumber: spec.asNumber ?? DEFAULT_AS_NUMBER,
        nodeToNodeMeshEnabled: spec.nodeToNodeMeshEnabled ?? true,
        logSeverityScreen: spec.logSeverityScreen ?? 'Info',
      },
    };
  },
};
