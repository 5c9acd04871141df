// FelixConfiguration: every field of Calico's FelixConfigurationSpec, so that
// existing manifests apply; Tortie's agent reads the ones it implements.

import {
  checkCidr,
  checkDuration,
  checkInterfaceFilter,
  checkInterfaceName,
  checkIP,
  checkKeyValueList,
  checkLabelName,
  checkPort,
  checkRegexp,
  parseDuration,
  parsePort,
} from '../formats.js';
import { show, type IssueSink } from '../issues.js';
import { FELIXCONFIGURATION } from '../kinds.js';
import type { FelixConfigurationSpec, Resource } from '../resource.js';
import {
  arr,
  bool,
  int,
  intOrString,
  map,
  obj,
  str,
  strCheck,
  strEnum,
  type Schema,
} from '../schema.js';
import { LOG_SEVERITIES } from './bgp.js';
import type { KindModule } from './module.js';

const duration = strCheck(checkDuration);
const regexp = strCheck(checkRegexp);
const logLevel = strEnum(LOG_SEVERITIES);
const port = int(1, 65535);
const uint32 = int(0, 4_294_967_295);
const atLeastMinusOne = int(-1);
const enabledDisabled = strEnum(['Enabled', 'Disabled']);
const acceptReturn = strEnum(['Accept', 'Return']);
const dropReject = strEnum(['Drop', 'Reject']);
const cidrList = arr(strCheck(checkCidr()));

const protoPort = obj(
  {
    // Calico documents lower case ("tcp") as well as upper case.
    protocol: strCheck((p) =>
      ['TCP', 'UDP', 'SCTP'].includes(p.toUpperCase())
        ? undefined
        : `${show(p)} is not one of TCP, UDP, SCTP`,
    ),
    port: int(0, 65535),
    net: strCheck(checkCidr()),
  },
  ['port'],
);

const conntrackTimeout = strCheck((value) =>
  value === 'Auto' || parseDuration(value) !== undefined
    ? undefined
    : `${show(value)} is not a duration or "Auto"`,
);

const routeTableRange = obj({ min: int(), max: int() }, ['min', 'max']);

const felixFields: Record<string, Schema> = {
  useInternalDataplaneDriver: bool,
  dataplaneDriver: str(),
  dataplaneWatchdogTimeout: duration,
  ipv6Support: bool,
  routeRefreshInterval: duration,
  interfaceRefreshInterval: duration,
  iptablesRefreshInterval: duration,
  iptablesPostWriteCheckInterval: duration,
  iptablesLockFilePath: str(),
  iptablesLockTimeout: duration,
  iptablesLockProbeInterval: duration,
  featureDetectOverride: strCheck(checkKeyValueList),
  featureGates: strCheck(checkKeyValueList),
  ipsetsRefreshInterval: duration,
  maxIpsetSize: int(0),
  iptablesBackend: strEnum(['Auto', 'Legacy', 'NFT']),
  xdpRefreshInterval: duration,
  netlinkTimeout: duration,
  metadataAddr: str(),
  metadataPort: port,
  openstackRegion: strCheck((region) => {
    // It becomes part of a namespace name: "openstack-region-<region>".
    if (region.length > 63 - 'openstack-region-'.length) return `${show(region)} is too long`;
    return checkLabelName(region);
  }),
  interfacePrefix: str(),
  interfaceExclude: str(),
  chainInsertMode: strCheck((mode) =>
    /^(insert|append)$/i.test(mode) ? undefined : `${show(mode)} is not one of Insert, Append`,
  ),
  defaultEndpointToHostAction: strEnum(['Drop', 'Accept', 'Return']),
  iptablesFilterAllowAction: acceptReturn,
  iptablesMangleAllowAction: acceptReturn,
  iptablesFilterDenyAction: dropReject,
  logPrefix: str(),
  logFilePath: str(),
  logSeverityFile: logLevel,
  logSeverityScreen: logLevel,
  logSeveritySys: logLevel,
  logDebugFilenameRegex: regexp,
  ipipEnabled: bool,
  ipipMTU: int(0),
  vxlanEnabled: bool,
  vxlanMTU: int(0),
  vxlanMTUV6: int(0),
  vxlanPort: port,
  // A VNI is 24 bits.
  vxlanVNI: int(0, 16_777_215),
  allowVXLANPacketsFromWorkloads: bool,
  allowIPIPPacketsFromWorkloads: bool,
  reportingInterval: duration,
  reportingTTL: duration,
  endpointReportingEnabled: bool,
  endpointReportingDelay: duration,
  endpointStatusPathPrefix: str(),
  iptablesMarkMask: uint32,
  disableConntrackInvalidCheck: bool,
  healthEnabled: bool,
  healthHost: str(),
  healthPort: port,
  healthTimeoutOverrides: arr(
    obj(
      {
        name: strCheck((name) =>
          /^[a-zA-Z0-9_ -]+$/.test(name)
            ? undefined
            : `${show(name)} is not a valid component name`,
        ),
        timeout: duration,
      },
      ['name', 'timeout'],
    ),
  ),
  prometheusMetricsEnabled: bool,
  prometheusMetricsHost: strCheck((host) =>
    /^[a-zA-Z0-9:._+-]{1,64}$/.test(host) ? undefined : `${show(host)} is not a valid host`,
  ),
  prometheusMetricsPort: port,
  prometheusGoMetricsEnabled: bool,
  prometheusProcessMetricsEnabled: bool,
  prometheusWireGuardMetricsEnabled: bool,
  failsafeInboundHostPorts: arr(protoPort),
  failsafeOutboundHostPorts: arr(protoPort),
  kubeNodePortRanges: arr(intOrString(checkPort), { maxItems: 7 }),
  policySyncPathPrefix: str(),
  usageReportingEnabled: bool,
  usageReportingInitialDelay: duration,
  usageReportingInterval: duration,
  natPortRange: intOrString(checkPort),
  natOutgoingAddress: strCheck(checkIP(4)),
  natOutgoingExclusions: strEnum(['IPPoolsOnly', 'IPPoolsAndHostIPs']),
  deviceRouteSourceAddress: strCheck(checkIP(4)),
  deviceRouteSourceAddressIPv6: strCheck(checkIP(6)),
  deviceRouteProtocol: int(0, 255),
  removeExternalRoutes: bool,
  programClusterRoutes: enabledDisabled,
  ipForwarding: enabledDisabled,
  externalNodesList: arr(strCheck(checkCidr({ family: 4 }))),
  debugMemoryProfilePath: str(),
  debugDisableLogDropping: bool,
  debugSimulateCalcGraphHangAfter: duration,
  debugSimulateDataplaneHangAfter: duration,
  debugSimulateDataplaneApplyDelay: duration,
  debugHost: str(),
  debugPort: int(0, 65535),
  iptablesNATOutgoingInterfaceFilter: strCheck(checkInterfaceFilter),
  sidecarAccelerationEnabled: bool,
  xdpEnabled: bool,
  genericXDPEnabled: bool,
  nftablesMode: strEnum(['Disabled', 'Enabled', 'Auto']),
  nftablesRefreshInterval: duration,
  nftablesFilterAllowAction: acceptReturn,
  nftablesMangleAllowAction: acceptReturn,
  nftablesFilterDenyAction: dropReject,
  nftablesMarkMask: uint32,
  bpfEnabled: bool,
  bpfDisableUnprivileged: bool,
  bpfLogLevel: strEnum(['Off', 'Info', 'Debug']),
  bpfConntrackLogLevel: strEnum(['Off', 'Debug']),
  bpfConntrackMode: strEnum(['Auto', 'Userspace', 'BPFProgram']),
  bpfConntrackTimeouts: obj({
    creationGracePeriod: conntrackTimeout,
    tcpSynSent: conntrackTimeout,
    tcpEstablished: conntrackTimeout,
    tcpFinsSeen: conntrackTimeout,
    tcpResetSeen: conntrackTimeout,
    udpTimeout: conntrackTimeout,
    genericTimeout: conntrackTimeout,
    icmpTimeout: conntrackTimeout,
  }),
  bpfLogFilters: map(str(), checkInterfaceName(false)),
  bpfCTLBLogFilter: str(),
  bpfDataIfacePattern: regexp,
  bpfL3IfacePattern: regexp,
  bpfConnectTimeLoadBalancingEnabled: bool,
  bpfConnectTimeLoadBalancing: strEnum(['TCP', 'Enabled', 'Disabled']),
  bpfHostNetworkedNATWithoutCTLB: enabledDisabled,
  bpfExternalServiceMode: strEnum(['Tunnel', 'DSR']),
  bpfDSROptoutCIDRs: cidrList,
  bpfExtToServiceConnmark: uint32,
  bpfKubeProxyIptablesCleanupEnabled: bool,
  bpfKubeProxyMinSyncPeriod: duration,
  bpfKubeProxyEndpointSlicesEnabled: bool,
  bpfPSNATPorts: intOrString(checkPort),
  bpfMapSizeNATFrontend: int(0),
  bpfMapSizeNATBackend: int(0),
  bpfMapSizeNATAffinity: int(0),
  bpfMapSizeRoute: int(0),
  bpfMapSizeConntrack: int(0),
  bpfMapSizePerCpuConntrack: int(0),
  bpfMapSizeConntrackScaling: strEnum(['Disabled', 'DoubleIfFull']),
  bpfMapSizeConntrackCleanupQueue: int(1),
  bpfMapSizeIPSets: int(0),
  bpfMapSizeIfState: int(0),
  bpfHostConntrackBypass: bool,
  bpfEnforceRPF: strEnum(['Disabled', 'Strict', 'Loose']),
  bpfPolicyDebugEnabled: bool,
  bpfForceTrackPacketsFromIfaces: arr(strCheck(checkInterfaceFilter)),
  bpfDisableGROForIfaces: regexp,
  bpfExcludeCIDRsFromNAT: cidrList,
  bpfExportBufferSizeMB: int(1),
  bpfRedirectToPeer: strEnum(['Enabled', 'Disabled', 'L2Only']),
  bpfProfiling: enabledDisabled,
  flowLogsPolicyEvaluationMode: strEnum(['None', 'Continuous']),
  flowLogsFlushInterval: duration,
  flowLogsCollectorDebugTrace: bool,
  flowLogsGoldmaneServer: str(),
  flowLogsLocalReporter: enabledDisabled,
  routeSource: strEnum(['WorkloadIPs', 'CalicoIPAM']),
  routeTableRanges: arr(routeTableRange),
  routeTableRange: routeTableRange,
  routeSyncDisabled: bool,
  wireguardEnabled: bool,
  wireguardEnabledV6: bool,
  wireguardThreadingEnabled: bool,
  wireguardListeningPort: port,
  wireguardListeningPortV6: port,
  wireguardRoutingRulePriority: int(1, 32765),
  wireguardInterfaceName: strCheck(checkInterfaceName(false)),
  wireguardInterfaceNameV6: strCheck(checkInterfaceName(false)),
  wireguardMTU: int(0),
  wireguardMTUV6: int(0),
  wireguardHostEncryptionEnabled: bool,
  wireguardKeepAlive: duration,
  awsSrcDstCheck: strEnum(['DoNothing', 'Enable', 'Disable']),
  serviceLoopPrevention: strEnum(['Drop', 'Reject', 'Disabled']),
  workloadSourceSpoofing: strEnum(['Disabled', 'Any']),
  mtuIfacePattern: regexp,
  floatingIPs: enabledDisabled,
  windowsManageFirewallRules: enabledDisabled,
  goGCThreshold: atLeastMinusOne,
  goMemoryLimitMB: atLeastMinusOne,
  goMaxProcs: atLeastMinusOne,
  requireMTUFile: bool,
};

const LINUX_ROUTE_TABLE_MAX = 4_294_967_295;
const ROUTE_TABLES_MAX = 0xffff;

function checkFelix(config: Resource<FelixConfigurationSpec>, sink: IssueSink): void {
  const spec = config.spec ?? {};
  spec.kubeNodePortRanges?.forEach((range, i) => {
    const parsed = parsePort(range);
    if (typeof parsed !== 'string' && parsed.name !== undefined) {
      sink.report(['spec', 'kubeNodePortRanges', i], 'must be a port or range, not a named port');
    }
  });
  if (spec.routeTableRange && spec.routeTableRanges) {
    sink.report(['spec', 'routeTableRange'], 'cannot be set together with routeTableRanges');
  }
  const single = spec.routeTableRange;
  if (single && !(single.min >= 1 && single.max >= single.min && single.max <= 250)) {
    sink.report(['spec', 'routeTableRange'], 'must be a range of route table indices within 1-250');
  }
  let tables = 0;
  spec.routeTableRanges?.forEach((range, i) => {
    const path = ['spec', 'routeTableRanges', i];
    if (range.min > range.max)
      sink.report(path, `min ${range.min} is greater than max ${range.max}`);
    if (range.min < 1) sink.report(path, 'cannot use route table indices below 1');
    if (range.max > LINUX_ROUTE_TABLE_MAX) sink.report(path, 'max index is too high');
    tables += Math.max(0, range.max - range.min + 1);
  });
  if (tables > ROUTE_TABLES_MAX) {
    sink.report(
      ['spec', 'routeTableRanges'],
      `target ${tables} tables: at most ${ROUTE_TABLES_MAX}`,
    );
  }
  spec.healthTimeoutOverrides?.forEach((override, i) => {
    if ((parseDuration(override.timeout) ?? 0) < 0) {
      sink.report(['spec', 'healthTimeoutOverrides', i, 'timeout'], 'cannot be negative');
    }
  });
}

/**
 * The defaults Calico's client fills in on every FelixConfiguration (the rest
 * stay unset: Felix itself falls back to its built-in values).
 */
function felixDefaults(config: Resource<FelixConfigurationSpec>): Resource<FelixConfigurationSpec> {
  const spec: FelixConfigurationSpec = { ...config.spec };
  spec.floatingIPs ??= 'Disabled';
  spec.bpfConnectTimeLoadBalancing ??= 'TCP';
  spec.bpfHostNetworkedNATWithoutCTLB ??= 'Enabled';
  // The deprecated boolean, when set, decides both of its replacements.
  const legacyCTLB = spec.bpfConnectTimeLoadBalancingEnabled;
  if (typeof legacyCTLB === 'boolean') {
    spec.bpfHostNetworkedNATWithoutCTLB = 'Disabled';
    spec.bpfConnectTimeLoadBalancing = legacyCTLB ? 'Enabled' : 'Disabled';
  }
  return { ...config, spec };
}

export const felixConfigurationModule: KindModule<FelixConfigurationSpec> = {
  info: FELIXCONFIGURATION,
  spec: obj(felixFields),
  checkSemantics: checkFelix,
  defaults: felixDefaults,
};
